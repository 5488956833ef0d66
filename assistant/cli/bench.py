"""`assistant bench`: latency per stage and voice to voice, against the targets; with
`--quality`, each model tier's answer quality, first audio, memory and STT error rates."""

from __future__ import annotations

import os
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
    "--tiers",
    default=None,
    metavar="T1,T2",
    help="With --quality: the tiers to measure (default tiny,default,large).",
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
    tiers: str | None,
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
    if tiers is not None and not quality:
        raise click.UsageError("--tiers goes with --quality")
    if quality:
        _quality(config, tiers, quick, output, cli_args)
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


def _show(json_path: Path, md_path: Path) -> None:
    """Print the tables; say where both files are."""
    click.echo(md_path.read_text(), nl=False)
    click.echo(f"wrote {json_path} and {md_path}", err=True)
