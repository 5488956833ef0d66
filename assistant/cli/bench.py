"""`assistant bench`: latency per stage and voice to voice, against the targets; with
`--quality`, each model tier's answer quality, first audio, memory and STT error rates."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from .context import config_of


def default_output() -> Path:
    """$XDG_CACHE_HOME/assistant/bench: outside the checkout, so no audio is ever committed."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assistant" / "bench"


@click.command()
@click.option("--quick", is_flag=True, help="One iteration of three utterances (a CI smoke run).")
@click.option(
    "--iterations",
    type=click.IntRange(1, 100),
    default=None,
    help="Times each measurement is repeated (default 3; 1 with --quick).",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for benchmark.json, benchmark.md and the cached utterances "
    "(default: $XDG_CACHE_HOME/assistant/bench, usually ~/.cache/assistant/bench).",
)
@click.option(
    "--quality",
    is_flag=True,
    help="Measure each model tier instead: answer accuracy (English and Chinese), time to "
    "first audio, tokens/s, peak memory, and the STT error rate per model and language.",
)
@click.option(
    "--wake-words",
    is_flag=True,
    help="Measure the wake words instead: detection rate on spoken '<wake word>, <question>' "
    "(Piper, Kokoro, espeak-ng) and false wakes per hour on an hour of other speech and noise.",
)
@click.option(
    "--tiers",
    default=None,
    metavar="T1,T2",
    help="With --quality: the tiers to measure (default tiny,default,large).",
)
@click.option(
    "--wyoming",
    is_flag=True,
    help="Measure the Wyoming round trips instead (`assistant wyoming` as Home Assistant uses "
    "it): audio-stop -> transcript, synthesize -> first audio and -> audio-stop, streamed "
    "synthesis. Writes OUTPUT/wyoming.json and OUTPUT/wyoming.md.",
)
@click.option(
    "--turns",
    is_flag=True,
    help="Measure the end of turn instead: premature ends on turns with a pause in the middle, "
    "false 'incomplete' and delay on complete turns, smart (end-of-turn model) against silence.",
)
@click.option(
    "--echo",
    is_flag=True,
    help="Measure open speakers instead: long replies echoed through a synthetic room into the "
    "microphone, self-interruptions and barge-in with echo cancellation on and off.",
)
@click.option(
    "--tools",
    is_flag=True,
    help="Measure the local commands' first audio against the chat path's, and each tier's "
    "tool-call success on 30 fixed requests (--tiers: default tiny,default).",
)
@click.option(
    "--soak",
    type=click.IntRange(1, 100_000),
    default=None,
    metavar="N",
    help="Instead: N turns through the real engine (questions, barge-ins, silences, bad frames), "
    "reporting memory, file descriptors, threads and latency drift (1000 for the full run).",
)
@click.option(
    "--cold-start-probe",
    is_flag=True,
    hidden=True,
    help="Internal: be the process whose cold start is measured.",
)
@click.pass_context
def bench(
    ctx: click.Context,
    quick: bool,
    iterations: int | None,
    output: Path | None,
    quality: bool,
    wake_words: bool,
    tiers: str | None,
    wyoming: bool,
    turns: bool,
    echo: bool,
    tools: bool,
    soak: int | None,
    cold_start_probe: bool,
) -> None:
    """Measure each stage, the raw engines, voice to voice, cold start, memory and barge-in.

    Writes OUTPUT/benchmark.json and OUTPUT/benchmark.md and prints the table.
    """
    from ..conversation.options import conversation_options

    output = output or default_output()
    root = ctx.find_root()
    config = config_of(ctx)
    if cold_start_probe:
        from ..bench.coldstart import probe
        from ..bench.quality import quality_config
        from ..bench.run import bench_config

        # as the parent measures: the latency benchmark drives Piper, a quality run any local voice
        config = quality_config(config, quick) if quality else bench_config(config, quick)
        from ..bench.corpus import QUICK_TEXTS, TEXTS

        texts = QUICK_TEXTS if quick else TEXTS
        probe(config, conversation_options(config).system_prompt, output / "corpus", texts)
        return
    from ..bench.run import run_benchmark, write

    cli_args = []
    if root.params.get("config_path"):
        cli_args += ["--config", root.params["config_path"]]
    for setting in root.params.get("settings") or ():
        cli_args += ["--set", setting]
    if tools:
        _tools(config, tiers, iterations or (1 if quick else 3), output)
        return
    if tiers is not None and not quality:
        raise click.UsageError("--tiers goes with --quality or --tools")
    if quality:
        _quality(config, tiers, quick, output, cli_args)
        return
    if wyoming:
        _wyoming(quick, iterations or (1 if quick else 3), output, cli_args)
        return
    if wake_words:
        from ..bench.wake import run_wake_benchmark, write_wake_report

        say = lambda line: click.echo(line, err=True)  # noqa: E731
        _show(*write_wake_report(run_wake_benchmark(config, quick=quick, output=output, say=say),
                                 output))  # fmt: skip
        return
    if turns:
        _turns(config, quick, output)
        return
    if echo:
        _echo(config, quick, output)
        return
    if soak is not None:
        from ..bench.soak import report, run_soak

        table = report(run_soak(config, soak, output, lambda line: click.echo(line, err=True)))
        (output / "soak.md").write_text(table)
        _show(output / "soak.json", output / "soak.md")
        return
    results = run_benchmark(
        config,
        quick=quick,
        iterations=iterations or (1 if quick else 3),
        output=output,
        cli_args=cli_args,
        say=lambda line: click.echo(line, err=True),
    )
    _show(*write(results, output))


def _quality(config, tiers: str | None, quick: bool, output: Path, cli_args: list[str]) -> None:
    """`assistant bench --quality`: each tier side by side; writes benchmark-quality.*."""
    from ..bench.quality import TIERS, parse_tiers, run_quality
    from ..bench.quality_report import write_quality_report

    results = run_quality(
        config,
        tiers=parse_tiers(tiers) if tiers is not None else TIERS,
        quick=quick,
        output=output,
        cli_args=cli_args,
        say=lambda line: click.echo(line, err=True),
    )
    _show(*write_quality_report(results, output))


def _wyoming(quick: bool, iterations: int, output: Path, cli_args: list[str]) -> None:
    from ..bench.corpus import QUICK_TEXTS, TEXTS, make_corpus
    from ..bench.wyoming_trip import run_wyoming_trips, write

    utterances = make_corpus(output / "corpus", QUICK_TEXTS if quick else TEXTS)
    results = run_wyoming_trips(
        utterances,
        iterations=iterations,
        cli_args=cli_args,
        say=lambda line: click.echo(line, err=True),
    )
    _show(*write(results, output))


def _tools(config, tiers: str | None, iterations: int, output: Path) -> None:
    """`assistant bench --tools`: writes benchmark-tools.*."""
    from ..bench.quality import parse_tiers
    from ..bench.tools import run_tools_bench, write_tools_report

    results = run_tools_bench(
        config, tiers=parse_tiers(tiers) if tiers else ("tiny", "default"),
        iterations=iterations, output=output, say=lambda line: click.echo(line, err=True),
    )  # fmt: skip
    _show(*write_tools_report(results, output))


def _show(json_path: Path, md_path: Path) -> None:
    """Print the tables; say where both files are."""
    click.echo(md_path.read_text(), nl=False)
    click.echo(f"wrote {json_path} and {md_path}", err=True)


def _turns(config, quick: bool, output: Path) -> None:
    """`assistant bench --turns`: the end of turn: smart alone, smart with the speculative
    transcript's words, silence; benchmark-turns.json."""
    import json

    from ..bench.turn_report import report_lines
    from ..bench.turn_taking import WordsReader, corpus, measure
    from ..conversation.options import conversation_options
    from ..providers import ReadsTurnEnds
    from ..providers.loading import load_turn_model
    from ..providers.registry import create_chat, create_stt
    from ..providers.store import ModelStore
    from ..providers.tiers import resolve_models

    store = ModelStore.open(config.models.dir)
    settings = conversation_options(config).endpointing
    smart_config = replace(
        config, conversation=replace(config.conversation, turn_detection="smart")
    )
    model = load_turn_model(smart_config, store)
    click.echo("making the spoken turns (espeak-ng, Piper, Kokoro, recordings)...", err=True)
    spoken = corpus(config, store, output / "corpus", quick)
    mandarin = resolve_models(replace(config, stt=replace(config.stt, model="", language="zh")))
    by_language = {"zh": create_stt(mandarin, store)}
    chat = create_chat(config, store)
    prompt = conversation_options(config).system_prompt
    reader = WordsReader(chat, prompt) if isinstance(chat, ReadsTurnEnds) else None
    results = measure(spoken, settings, model, create_stt(config, store), by_language, reader)
    results["stt_model"], results["stt_model_zh"] = config.stt.model, mandarin.stt.model
    output.mkdir(parents=True, exist_ok=True)
    (output / "benchmark-turns.json").write_text(json.dumps(results, indent=2))
    click.echo("\n".join(report_lines(results, settings)))


def _echo(config, quick: bool, output: Path) -> None:
    """`assistant bench --echo`: open speakers, offline; benchmark-echo.json."""
    import json
    import shutil
    import subprocess

    from ..audio.codec import decode_file
    from ..bench.echo_rig import USER_TEXT, compare
    from ..conversation.options import conversation_options
    from ..providers.registry import create_stt, create_tts
    from ..providers.store import ModelStore

    options = conversation_options(config)
    store = ModelStore.open(config.models.dir)
    tts, stt = create_tts(config, store), create_stt(config, store)
    output.mkdir(parents=True, exist_ok=True)
    user_wav = output / "echo-user.wav"
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise click.ClickException("the echo benchmark's user speaks with espeak-ng: install it")
    subprocess.run([espeak, "-v", "en-us", "-s", "140", "-w", str(user_wav), USER_TEXT], check=True)
    guard = options.echo_cancelled().barge_in_settings()
    results = compare(tts, options.voice, decode_file(user_wav), 4 if quick else 20, guard, stt)
    (output / "benchmark-echo.json").write_text(json.dumps(results, indent=2))
    no_echo = results.pop("no_echo")
    for mode, figures in results.items():
        p50, by_echo = figures["hold_p50_ms"], figures["held_by_the_echo"]
        held = "already held by the echo" if p50 is None else f"held p50 {p50} ms"
        if by_echo and p50 is not None:
            held += f" ({by_echo} of {figures['replies']} already held by the echo)"
        click.echo(
            f"{mode.replace('_', ' ')}: {figures['self_interruptions']} self-interruptions and "
            f"{figures['self_holds']} holds over {figures['replies']} replies; user over the "
            f"reply: {held}, interrupted p50 {figures['interrupt_p50_ms']} ms, missed "
            f"{figures['barge_in_missed']}"
        )
    passed, aec3 = no_echo["passed_through"], no_echo["aec3_output"]
    click.echo(
        f"no echo (headphones), a user over a first reply: words heard whole "
        f"{passed['heard_whole']} of {passed['replies']} (WER {passed['word_error_rate']}); "
        f"from AEC3's own output {aec3['heard_whole']} of {aec3['replies']} "
        f"(WER {aec3['word_error_rate']})"
    )
