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
from .turn_corpus import SpokenTurn

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
