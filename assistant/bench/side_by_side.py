"""Conversation settings side by side: the same spoken questions answered through the real
`Conversation` with each variant in turn (A, B, C, A, B, C, ...), so that a shared machine's
load falls on every variant alike; voice to voice and its stages per variant, and what the
first spoken chunk was (words, and whether Whisper hears Piper's rendering of it back right).

    scripts/side_by_side.py --set models.tier=default --variant first_chunk_ms=0 \\
        --variant first_chunk_ms=150 --iterations 2
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..config import Config
from ..conversation.endpointing import EndpointSettings
from ..conversation.options import ConversationOptions, conversation_options
from ..errors import UsageError
from ..text import speech_units
from ..types import ChatMessage
from . import e2e
from .corpus import TEXTS, make_corpus, word_error_rate
from .run import bench_config
from .stages import PRIME_QUESTION
from .stats import summary


@dataclass
class _SaidFirst:
    """The text-to-speech stage, noting the first chunk it is given after `arm()`."""

    tts: object
    first: str | None = None
    texts: list[str] = field(default_factory=list)

    def arm(self) -> None:
        self.first = None

    def __getattr__(self, name: str):
        return getattr(self.tts, name)

    def synthesize(self, text: str, **options):
        if self.first is None:
            self.first = text
        return self.tts.synthesize(text, **options)


@dataclass
class _AskedLast:
    """The language model, noting the messages of the last reply it was asked for."""

    chat: object
    messages: list[ChatMessage] = field(default_factory=list)

    def __getattr__(self, name: str):
        return getattr(self.chat, name)

    def stream_chat(self, messages, **options):
        self.messages = list(messages)
        return self.chat.stream_chat(messages, **options)

    def forget_question(self) -> None:
        """Leave the model's cache as after another turn: the system prompt read, the question
        not. Without it the first variant to hear a question pays for reading it and the next
        ones find it cached (measured: its first token came ~350 ms later on a loaded machine)."""
        if self.messages:
            other = [*self.messages[:-1], ChatMessage("user", PRIME_QUESTION)]
            for _ in self.chat.stream_chat(other, max_tokens=1):
                pass


def parse_variant(text: str) -> dict[str, object]:
    """ "first_chunk_ms=150,endpointing.pause_ms=32" -> {"first_chunk_ms": 150, ...}: fields of
    ConversationOptions or of its EndpointSettings, numbers as numbers, true/false as booleans."""
    known = {f.name for f in fields(ConversationOptions)}
    known |= {f"endpointing.{f.name}" for f in fields(EndpointSettings)}
    changes: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or name not in known:
            raise UsageError(f"variant {item!r}: write NAME=VALUE with a conversation option")
        changes[name] = _value(value)
    return changes


def _value(text: str) -> object:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def with_variant(base: ConversationOptions, text: str) -> ConversationOptions:
    """`base` with the variant's changes (see parse_variant)."""
    changes = parse_variant(text)
    nested = {k.partition(".")[2]: v for k, v in changes.items() if "." in k}
    top = {k: v for k, v in changes.items() if "." not in k}
    if nested:
        top["endpointing"] = replace(base.endpointing, **nested)
    return replace(base, **top)


def compare(
    config: Config,
    variants: Sequence[str],
    *,
    iterations: int,
    output: Path,
    say: Callable[[str], None],
) -> dict:
    """Each variant answers every question `iterations` times, interleaved; the summary."""
    from ..providers.loading import load_conversation_engines

    config = bench_config(config, quick=False)
    base = conversation_options(config)
    options = {name: with_variant(base, name) for name in variants}
    utterances = make_corpus(output / "corpus", TEXTS)
    engines, vad = load_conversation_engines(config, base.first_system_prompt)
    recorder, chat = _SaidFirst(engines.tts), _AskedLast(engines.chat)
    engines = replace(engines, tts=recorder, chat=chat)
    history = [ChatMessage("system", base.system_prompt)]
    turns: dict[str, list[dict]] = {name: [] for name in variants}
    for iteration in range(iterations):
        say(f"iteration {iteration + 1}/{iterations}")
        for utterance in utterances:
            for name in variants:  # alternately, the same question
                recorder.arm()
                chat.forget_question()
                found = asyncio.run(
                    e2e.streaming_pass(engines, vad, options[name], history, [utterance])
                )
                turns[name].append({**found[0], "first_chunk": recorder.first or ""})
            (output / "turns.json").write_text(json.dumps(turns, indent=1))  # so far
    return {name: _summary(engines, turns[name]) for name in variants}


def _summary(engines, turns: list[dict]) -> dict:
    stages = {stage: summary(t["stages_ms"].get(stage) for t in turns) for stage in e2e.STAGES}
    firsts = [t["first_chunk"] for t in turns if t["first_chunk"]]
    return {
        "voice_to_voice_ms": summary(t["voice_to_voice_ms"] for t in turns),
        "speculated_ms": summary(t.get("speculated_ms") for t in turns),  # the reply begun
        "stages_ms": stages,
        # what the first chunk's rules change, without the load's noise on STT before it
        "first_token_to_audio_ms": summary(
            _between(t, "first_token", "first_audio") for t in turns
        ),
        "first_chunk_words": summary((len(speech_units(f)) for f in firsts), 0),
        "first_chunk_heard_wer": _heard_back(engines, sorted(set(firsts))),
        "first_chunks": sorted(set(firsts)),
    }


def _between(turn: dict, start: str, end: str) -> float | None:
    stages = turn["stages_ms"]
    if stages.get(start) is None or stages.get(end) is None:
        return None
    return stages[end] - stages[start]


def _heard_back(engines, chunks: list[str]) -> float | None:
    """Mean word error rate of Whisper on each distinct first chunk as the voice says it."""
    from ..audio.codec import concat

    rates = []
    for chunk in chunks:
        audio = concat(list(engines.tts.tts.synthesize(chunk)))
        rates.append(word_error_rate(engines.stt.transcribe(audio).text, chunk))
    return round(sum(rates) / len(rates), 3) if rates else None


def table(results: dict) -> str:
    """The comparison as a Markdown table, one column per variant."""
    names = list(results)
    rows = [("voice to voice (ms)", lambda r: r["voice_to_voice_ms"]),
            ("reply begun (ms after end)", lambda r: r.get("speculated_ms", {}))]  # fmt: skip
    rows += [(f"{stage} (ms after end)", (lambda s: lambda r: r["stages_ms"][s])(stage))
             for stage in e2e.STAGES]  # fmt: skip
    rows += [("first token to first audio (ms)", lambda r: r["first_token_to_audio_ms"]),
             ("first chunk, words", lambda r: r["first_chunk_words"])]  # fmt: skip
    lines = ["| p50 / p95 | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, pick in rows:
        cells = [f"{pick(results[n]).get('p50')} / {pick(results[n]).get('p95')}" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    wers = [str(results[n]["first_chunk_heard_wer"]) for n in names]
    lines.append("| first chunk heard back, WER | " + " | ".join(wers) + " |")
    return "\n".join(lines)
