"""The end-of-turn benchmark's report (bench/turn_taking.py measures): the variants side by side
as a markdown table, then each voice's figures; and the end of turn's settings in a few words,
for every table that names them."""

from __future__ import annotations

from ..conversation.endpointing import EndpointSettings


def variants(settings: EndpointSettings) -> tuple[tuple[str, str], ...]:
    """(key in the results, column title) of each variant `measure` reports."""
    flipped = "off" if settings.turn_question_ends else "on"
    return (
        ("smart", "smart alone"),
        ("configured", "as configured: smart + words, waited for"),
        ("unread", "the same, without the LLM's reading of the words"),
        ("question_flipped", f"the same, '?' ends {flipped}"),
        ("combined", "smart + words, not waited for"),
        ("combined_at_once", "smart + word lists at once"),
        ("silence", "silence"),
        ("silence_same_latency", "silence at smart's p50"),
    )


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value}"


def turn_detection(settings: EndpointSettings) -> str:
    """How the end of turn is decided with these settings, in a few words (for the tables)."""
    if not settings.turn_check_ms:
        return f"silence {settings.silence_ms} ms"
    wait = settings.turn_words_wait_ms
    words = (
        f"words up to {settings.turn_text_max_ms} ms"
        + (", '?' ends" if settings.turn_question_ends else "")
        + (_reading(settings) if settings.reads_words_end else "")
        + (f", waits {wait} ms for them" if wait else "")
        if settings.turn_text_check
        else "words off"
    )
    return (
        f"smart (ask after {settings.turn_check_ms} ms of silence, at most "
        f"{settings.turn_max_ms} ms; {words})"
    )


def _reading(settings: EndpointSettings) -> str:
    below, above = settings.turn_words_unfinished_below, settings.turn_words_finished_above
    return (f", the LLM's reading: going on under {below}"
            + (f", finished over {above}" if above < 1 else ""))  # fmt: skip


def report_lines(results: dict, settings: EndpointSettings) -> list[str]:
    """A markdown table of the variants measured, then the false "incomplete" per voice."""
    shown = [(key, title) for key, title in variants(settings) if key in results]
    lines = [
        f"end of turn: {turn_detection(settings)}; silence: {settings.silence_ms} ms; silence at "
        f"smart's p50: {results.get('silence_same_latency', {}).get('silence_ms')} ms",
        "",
        "| | " + " | ".join(title for _, title in shown) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    rows = (
        ("premature ends, paused turns", lambda f: f"{f['premature_ends']} of {f['paused_turns']}"),
        ("afterthoughts ended at the pause ('Turn on the lights ... in the kitchen')",
         lambda f: f"{f['afterthoughts_ended_early']} of {f['afterthoughts']}"),
        ("complete turns cut short", lambda f: f"{f['complete_cut_short']}"),
        ("last word to endpoint p50 / p95 (ms)",
         lambda f: f"{f['delay_p50_ms']} / {f['delay_p95_ms']}"),
        ("the same, paused turns not ended early (ms)",
         lambda f: f"{_cell(f['paused_delay_p50_ms'])} / {_cell(f['paused_delay_p95_ms'])}"),
        ("false 'incomplete' (first decision)",
         lambda f: f"{f['false_incomplete']} of {f['asked']}" if f["asked"] else ""),
        ("endpoint past the transcript, p95 (ms)", lambda f: _cell(f["past_words_p95_ms"])),
    )  # fmt: skip
    for name, cell in rows:
        lines.append(f"| {name} | " + " | ".join(cell(results[key]) for key, _ in shown) + " |")
    lines.append(
        f"\nmodel call p50 {results['smart']['model_call_p50_ms']} ms; speculative transcript "
        f"({results.get('stt_model', 'the tier STT')}; Mandarin turns: "
        f"{results.get('stt_model_zh', 'the same')}) p50 {results.get('stt_p50_ms')} ms"
    )
    for key in ("by_voice", "configured_by_voice"):
        for voice, figures in results.get(key, {}).items():
            lines.append(
                f"  {'as configured' if key != 'by_voice' else 'smart alone'}, {voice}: false "
                f"incomplete {figures['false_incomplete']}/{figures['asked']}, premature "
                f"{figures['premature_ends']}/{figures['paused_turns']}, afterthoughts ended "
                f"early {figures['afterthoughts_ended_early']}/{figures['afterthoughts']}, "
                f"delay p95 {figures['delay_p95_ms']} ms"
            )
    return lines
