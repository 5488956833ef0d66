"""Each stage on its own, through the project's providers and, alternately, the raw engines.

Project and raw calls are interleaved (their order swapped from one item to the next) on the same
engines, so both see the same machine state. Before every language-model call the KV cache is
primed with the system prompt and another question, as after an earlier turn, so that both
start with the system prompt cached and the new question not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from piper import SynthesisConfig

from ..types import ChatMessage
from . import raw
from .corpus import Utterance, word_error_rate
from .stats import ratio, summary

# Replies of the length the assistant gives, for the speech stage (two sentences each).
REPLIES = (
    "The sky looks blue because the air scatters blue sunlight more than red. At sunset it "
    "turns orange.",
    "Cats sleep for around fifteen hours a day. They save their energy for hunting.",
    "William Shakespeare wrote Romeo and Juliet, around the year 1595. It is a tragedy.",
    "A spider has eight legs. Insects, by contrast, have six.",
)
PRIME_QUESTION = "Good morning."


@dataclass
class StageSamples:
    """Raw measurements, in milliseconds or plain ratios, one list per figure."""

    values: dict[str, list[float | None]] = field(default_factory=dict)

    def add(self, name: str, value: float | None) -> None:
        self.values.setdefault(name, []).append(value)

    def summary(self, name: str, digits: int = 1) -> dict:
        return summary(self.values.get(name, []), digits)


def measure_stages(
    engines,
    system_prompt: str,
    utterances: list[Utterance],
    *,
    iterations: int,
    max_tokens: int,
    temperature: float,
    voice: str | None,
    speed: float,
) -> dict:
    project, floor = StageSamples(), StageSamples()

    def pair(turn: int):
        """(samples, is_project) twice, the order swapped from one call to the next."""
        order = (True, False) if turn % 2 == 0 else (False, True)
        return [(project if is_project else floor, is_project) for is_project in order]

    turn = 0
    for _ in range(iterations):
        for utterance in utterances:
            turn += 1
            for into, is_project in pair(turn):
                _stt(engines.stt, utterance, into, is_project)
        for utterance in utterances:
            turn += 1
            for into, is_project in pair(turn):
                _llm(engines.chat, system_prompt, utterance.text, into, is_project, max_tokens,
                     temperature)  # fmt: skip
        for text in REPLIES:
            turn += 1
            for into, is_project in pair(turn):
                _tts(engines.tts, text, into, is_project, voice, speed)
    return _report(project, floor)


def _stt(stt, utterance: Utterance, into: StageSamples, is_project: bool) -> None:
    audio = utterance.audio
    if is_project:
        start = time.perf_counter()
        text = stt.transcribe(audio).text
        seconds = time.perf_counter() - start
    else:
        samples = audio.to_float32()  # outside the timing: the engine's own input format
        seconds, text = raw.transcribe(stt.engine, samples, stt.decode_options())
    into.add("latency_ms", 1000 * seconds)
    into.add("stt_rtf", seconds / audio.seconds)
    into.add("wer", word_error_rate(text, utterance.text))


def _llm(
    chat,
    system_prompt: str,
    question: str,
    into: StageSamples,
    is_project: bool,
    max_tokens: int,
    temperature: float,
) -> None:
    llm = chat.llama  # timed alone on the thread it computes on (its own OpenMP team)
    system = ChatMessage("system", system_prompt)
    prime = chat.prompt_tokens([system, ChatMessage("user", PRIME_QUESTION)])
    chat.on_engine_thread(raw.prime, llm, prime)
    messages = [system, ChatMessage("user", question)]
    if is_project:
        start = time.perf_counter()
        run = raw.time_stream(
            start, chat.stream_chat(messages, max_tokens=max_tokens, temperature=temperature)
        )
    else:
        tokens = chat.prompt_tokens(messages)  # outside the timing: the engine's own input
        run = chat.on_engine_thread(raw.generate, llm, tokens, max_tokens, temperature)
    into.add("ttft_ms", 1000 * run.first_token)
    into.add("first_sentence_ms", None if run.first_sentence is None else 1000 * run.first_sentence)
    into.add("tokens_per_s", run.tokens_per_s)
    into.add("tokens", run.tokens)


def _tts(
    tts, text: str, into: StageSamples, is_project: bool, voice: str | None, speed: float
) -> None:
    if is_project:
        start = time.perf_counter()
        first, audio_seconds = None, 0.0
        for chunk in tts.synthesize(text, voice=voice, speed=speed):
            first = first if first is not None else time.perf_counter() - start
            audio_seconds += chunk.seconds
        total = time.perf_counter() - start
    else:
        name, speaker = tts.resolve(voice)
        config = SynthesisConfig(speaker_id=speaker, length_scale=1.0 / speed)
        first, total, audio_seconds = raw.synthesize(tts.load_voice(name), text, config)
    into.add("first_audio_ms", 1000 * (first if first is not None else total))
    into.add("tts_rtf", total / audio_seconds if audio_seconds else None)


def _report(project: StageSamples, floor: StageSamples) -> dict:
    def stage(samples: StageSamples) -> dict:
        return {
            "stt": {
                "latency_ms": samples.summary("latency_ms"),
                "rtf": samples.summary("stt_rtf", 3),
                "wer": samples.summary("wer", 3),
                "wer_mean": _mean(samples.values.get("wer", [])),
            },
            "llm": {
                "ttft_ms": samples.summary("ttft_ms"),
                "tokens_per_s": samples.summary("tokens_per_s"),
                "first_sentence_ms": samples.summary("first_sentence_ms"),
                "tokens": samples.summary("tokens", 0),
            },
            "tts": {
                "first_audio_ms": samples.summary("first_audio_ms"),
                "rtf": samples.summary("tts_rtf", 3),
            },
        }

    ours, theirs = stage(project), stage(floor)
    ratios = {
        "stt_latency": ratio(ours["stt"]["latency_ms"], theirs["stt"]["latency_ms"]),
        "llm_ttft": ratio(ours["llm"]["ttft_ms"], theirs["llm"]["ttft_ms"]),
        "llm_first_sentence": ratio(
            ours["llm"]["first_sentence_ms"], theirs["llm"]["first_sentence_ms"]
        ),
        # a rate: the project's time per token over the engine's
        "llm_time_per_token": ratio(theirs["llm"]["tokens_per_s"], ours["llm"]["tokens_per_s"]),
        "tts_first_audio": ratio(ours["tts"]["first_audio_ms"], theirs["tts"]["first_audio_ms"]),
    }
    return {**ours, "raw": theirs, "project_over_raw": ratios}


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 3) if kept else None
