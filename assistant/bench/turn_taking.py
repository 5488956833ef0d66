"""The end of turn measured on spoken turns (bench/turn_corpus.py), through the real endpointer,
the real Silero VAD and the real end-of-turn model: premature ends on turns with a pause in the
middle, and on complete turns the time from the end of speech to the endpoint and how often the
model first says "incomplete".

The stream is replayed faster than real time; each model call takes as long on the stream's clock
as it took on the wall clock (its verdict arrives that many frames later), as on the live worker
thread, so the delays include the model's own time on this machine."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from ..audio.vad import FRAME_SAMPLES, VAD_RATE
from ..conversation.end_of_turn import COMPLETE_ABOVE, TurnModel
from ..conversation.endpointing import Endpointer, EndpointSettings, SpeechEnded, TurnCheck
from ..conversation.hearing import VoiceActivity
from .stats import percentile
from .turn_corpus import (
    COMPLETE_EN,
    COMPLETE_ZH,
    PAUSED_EN,
    SpokenTurn,
    complete_turns,
    espeak_speaker,
    mandarin_speaker,
    paused_turns,
    tts_speaker,
)

FRAME_S = FRAME_SAMPLES / VAD_RATE


@dataclass(frozen=True)
class TurnOutcome:
    id: str
    voice: str
    paused: bool  # the turn has a pause in the middle
    premature: bool  # it was ended before its last word
    delay_s: float | None  # end of the last word to the endpoint; None: never ended
    first_verdict: bool | None  # the model's first answer (True: complete); None: not asked
    model_ms: tuple[float, ...] = ()  # each model call's time


def replay(
    turn: SpokenTurn, settings: EndpointSettings, vad: VoiceActivity, model: TurnModel | None
) -> TurnOutcome:
    """One turn through the endpointer; the first end of turn decides."""
    if model is None:
        settings = replace(settings, turn_check_ms=0)
    endpointer, samples = Endpointer(settings), turn.audio.to_float32()
    vad.reset()
    pending: list[tuple[int, int, bool, float]] = []  # (frame due, check, complete, at)
    verdicts: list[bool] = []
    model_ms: list[float] = []
    pcm = turn.audio.pcm
    for index in range(len(samples) // FRAME_SAMPLES):
        events = []
        for due in [p for p in pending if p[0] <= index]:
            pending.remove(due)
            events += endpointer.verdict(due[1], due[2], due[3])
        frame = pcm[2 * index * FRAME_SAMPLES : 2 * (index + 1) * FRAME_SAMPLES]
        probability = vad(samples[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES])
        events += endpointer.push(frame, probability)
        for event in events:
            if isinstance(event, TurnCheck) and model is not None:
                started = time.perf_counter()
                complete = model.probability(event.audio) > COMPLETE_ABOVE
                took = time.perf_counter() - started
                model_ms.append(1000 * took)
                verdicts.append(complete)
                due = index + 1 + math.ceil(took / FRAME_S)
                pending.append((due, event.number, complete, event.at + took))
            elif isinstance(event, SpeechEnded):
                premature = event.endpoint_at < turn.speech_end - 0.05
                return TurnOutcome(
                    turn.id, turn.voice, turn.pause is not None, premature,
                    event.endpoint_at - turn.speech_end, verdicts[0] if verdicts else None,
                    tuple(model_ms),
                )  # fmt: skip
    first = verdicts[0] if verdicts else None
    return TurnOutcome(turn.id, turn.voice, turn.pause is not None, False, None, first)


def summary(outcomes: list[TurnOutcome]) -> dict:
    """Premature ends on paused turns; delay and first "incomplete" on complete turns."""
    paused = [o for o in outcomes if o.paused]
    complete = [o for o in outcomes if not o.paused]
    delays = [1000 * o.delay_s for o in complete if o.delay_s is not None and not o.premature]
    asked = [o for o in complete if o.first_verdict is not None]
    calls = [ms for o in outcomes for ms in o.model_ms]
    return {
        "paused_turns": len(paused),
        "premature_ends": sum(o.premature for o in paused),
        "complete_turns": len(complete),
        "complete_cut_short": sum(o.premature for o in complete),
        "never_ended": sum(o.delay_s is None for o in outcomes),
        "delay_p50_ms": round(percentile(delays, 50), 1) if delays else None,
        "delay_p95_ms": round(percentile(delays, 95), 1) if delays else None,
        "false_incomplete": sum(o.first_verdict is False for o in asked),
        "asked": len(asked),
        "model_call_p50_ms": round(percentile(calls, 50), 1) if calls else None,
    }


def by_voice(outcomes: list[TurnOutcome]) -> dict[str, dict]:
    voices = dict.fromkeys(o.voice for o in outcomes)
    return {voice: summary([o for o in outcomes if o.voice == voice]) for voice in voices}


def corpus(config, store, cache, quick: bool) -> list[SpokenTurn]:
    """Complete and paused turns from espeak-ng, Piper and Kokoro (quick: espeak-ng and Piper,
    fewer turns), and complete Mandarin ones from espeak-ng and Kokoro."""
    from ..providers.registry import create_tts

    piper = create_tts(replace(config, tts=replace(config.tts, voice=PIPER_VOICE)), store)
    speakers = {"espeak-ng": espeak_speaker(cache), "piper": tts_speaker(piper, PIPER_VOICE)}
    chinese = {"espeak-ng zh": mandarin_speaker(cache)}
    if not quick:
        kokoro = create_tts(replace(config, tts=replace(config.tts, voice=KOKORO_VOICE)), store)
        speakers["kokoro"] = tts_speaker(kokoro, KOKORO_ENGLISH)
        chinese["kokoro zh"] = tts_speaker(kokoro, KOKORO_VOICE)
    complete, paused = COMPLETE_EN[: 3 if quick else None], PAUSED_EN[: 4 if quick else None]
    turns = []
    for name, speak in speakers.items():
        turns += complete_turns(name, speak, complete) + paused_turns(name, speak, paused)
    for name, speak in chinese.items():
        turns += complete_turns(name, speak, COMPLETE_ZH[: 1 if quick else None])
    return turns


PIPER_VOICE, KOKORO_VOICE, KOKORO_ENGLISH = "en_US-joe-medium", "kokoro-nezumi", "kokoro-alpha"


def measure(turns: list[SpokenTurn], settings: EndpointSettings, model: TurnModel) -> dict:
    """Smart end of turn side by side with fixed silence: at its configured length, and at the
    length that gives the smart one's median delay on complete turns."""
    from ..audio.vad import SileroVAD

    vad = SileroVAD.load()
    smart = [replay(turn, settings, vad, model) for turn in turns]
    fixed = [replay(turn, settings, vad, None) for turn in turns]
    results = {"smart": summary(smart), "by_voice": by_voice(smart), "silence": summary(fixed)}
    same = results["smart"]["delay_p50_ms"]
    if same:
        matched = replace(settings, silence_ms=int(same))
        results["silence_same_latency"] = summary([replay(t, matched, vad, None) for t in turns])
        results["silence_same_latency"]["silence_ms"] = int(same)
    return results


def report_lines(results: dict, settings: EndpointSettings) -> list[str]:
    smart, fixed = results["smart"], results["silence"]
    lines = [
        f"end of turn (smart: ask after {settings.turn_check_ms} ms of silence, at most "
        f"{settings.turn_max_ms} ms; silence: {settings.silence_ms} ms)",
        f"  premature ends on paused turns: smart {smart['premature_ends']} of "
        f"{smart['paused_turns']}, silence {fixed['premature_ends']} of {fixed['paused_turns']}",
    ]
    same = results.get("silence_same_latency")
    if same:
        lines.append(
            f"  silence at the smart median delay ({same['silence_ms']} ms): "
            f"{same['premature_ends']} of {same['paused_turns']} premature"
        )
    lines.append(
        f"  complete turns, end of speech to endpoint: smart p50 {smart['delay_p50_ms']} ms, "
        f"p95 {smart['delay_p95_ms']} ms; silence p50 {fixed['delay_p50_ms']} ms"
    )
    lines.append(
        f"  false 'incomplete' (first answer) on complete turns: {smart['false_incomplete']} of "
        f"{smart['asked']}; model call p50 {smart['model_call_p50_ms']} ms"
    )
    for voice, figures in results["by_voice"].items():
        lines.append(
            f"    {voice}: false incomplete {figures['false_incomplete']}/{figures['asked']}, "
            f"premature {figures['premature_ends']}/{figures['paused_turns']}, "
            f"delay p95 {figures['delay_p95_ms']} ms"
        )
    return lines
