"""Speech from and to files: `assistant transcribe`, `assistant say`, `assistant reply`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from ..audio.codec import decode_file
from ..errors import AssistantError, UsageError
from .context import config_of, keep_audio_option, write_output_wav
from .voices import language_option

OUTPUT_WAV = click.Path(dir_okay=False, path_type=Path)


@click.command()
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
    from ..providers.loading import load_engines

    audio = decode_file(file)
    # a language named: the tier's speech-to-text for it (Chinese: the multilingual Whisper)
    stt = load_engines(config_of(ctx, language=language), stt=True).stt
    result = stt.transcribe(audio, language=language, prompt=prompt)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(result.text)


@click.command()
@click.argument("text")
@click.option("-o", "--output", type=OUTPUT_WAV, required=True, help="WAV file to write.")
@click.option(
    "--voice", help="Voice name, or NAME:SPEAKER for multi-speaker voices (see `assistant voices`)."
)
@click.option("--speed", type=float, default=None, help="Speaking rate, 0.25 to 4.0 (default 1.0).")
@click.pass_context
def say(
    ctx: click.Context, text: str, output: Path, voice: str | None, speed: float | None
) -> None:
    """Speak TEXT into a WAV file. TEXT '-' reads the text from standard input."""
    from ..audio.codec import concat
    from ..config import voice_map
    from ..conversation.language import typed_language, voice_for
    from ..providers import speak_text
    from ..providers.loading import load_engines

    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise UsageError("there is no text to speak: give some words, or pipe them in with '-'")
    config = config_of(ctx)
    tts = load_engines(config, tts=True).tts
    by_language = dict(voice_map(config.tts.voices_by_language))  # Chinese text: a
    voice = voice_for(tts.voices(), voice, typed_language(text), by_language)  # Chinese voice
    audio = concat(speak_text(tts, text, voice=voice, speed=speed or config.tts.speed))
    if not audio.pcm:
        raise UsageError("the text has nothing speakable in it (only symbols or markup)")
    write_output_wav(output, audio)
    click.echo(f"wrote {output} ({audio.seconds:.1f} s)", err=True)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=OUTPUT_WAV, required=True, help="WAV file for the reply.")
@click.option("--voice", help="Voice for the reply (see `assistant voices`).")
@click.option("--speed", type=float, default=None, help="Speaking rate, 0.25 to 4.0.")
@keep_audio_option("the question's and the reply's audio too")
@language_option("of the question; the answer is in it")
@click.pass_context
def reply(
    ctx: click.Context,
    file: Path,
    output: Path,
    voice: str | None,
    speed: float | None,
    keep_audio: Path | None,
    language: str | None,
) -> None:
    """One voice turn: hear the question in FILE, answer it aloud into OUTPUT."""
    from ..config import voice_map
    from ..conversation.events import UserSaid
    from ..conversation.examples import wants_examples
    from ..conversation.reply import ReplySettings
    from ..conversation.turn import voice_turn
    from ..history.keep_audio import NO_AUDIO, AudioKeeper
    from ..history.recorder import Recorder, recording
    from ..history.store import open_history
    from ..providers.loading import load_engines
    from ..types import ChatMessage
    from .tools import local_skills, tool_store

    audio = decode_file(file)
    config = config_of(ctx, language=language)
    keeper = AudioKeeper(keep_audio) if keep_audio else NO_AUDIO
    engines = load_engines(config, stt=True, chat=True, tts=True)
    settings = ReplySettings(
        voice or config.tts.voice,
        speed or config.tts.speed,
        voices_by_language=voice_map(config.tts.voices_by_language),
        instructions=config.tts.instructions or None,
        dont_know_examples=wants_examples(config),
    )
    recorder = Recorder(
        open_history(config.history), stt_model=config.stt.model, llm_model=config.llm.model,
        voice=settings.voice or "", meta=keeper.meta,
    )  # fmt: skip
    record = recording(recorder, keeper)

    def on_event(event) -> None:
        if isinstance(event, UserSaid):  # printed, and saved, before the reply is thought of
            click.echo(f"you: {event.text}")
        record(event)

    result = voice_turn(
        audio, engines.stt, engines.chat, engines.tts,
        history=[ChatMessage("system", config.llm.system_prompt)], settings=settings,
        on_event=on_event, skills=local_skills(config, tool_store(config)),
    )  # fmt: skip
    if result.record is None or result.audio is None:
        click.echo("you: (no speech)" if not result.heard else "assistant: (nothing to say)")
        raise AssistantError(f"no speech was heard in {file}, so there is nothing to answer")
    click.echo(f"assistant: {result.record.generated}")
    write_output_wav(output, result.audio)
    click.echo(f"wrote {output} ({result.audio.seconds:.1f} s)", err=True)
