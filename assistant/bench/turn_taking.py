"""The end of turn measured on spoken turns (bench/turn_corpus.py), through the real endpointer,
the real Silero VAD and the real end-of-turn model: premature ends on turns with a pause in the
middle, and on complete turns the time from the end of speech to the endpoint and how often the
model first says "incomplete".

The stream is replayed faster than real time; each model call takes as long on the stream's clock
as it took on the wall clock (its verdict arrives that many frames later), as on the live worker
thread, so the delays include the model's own time on this machine. So does each transcription of
a pause (the speculative transcript whose words the endpointer reads): it is there for a verdict
only if it was done by then. Model and STT are timed one after the other, not competing for the
cores as they do live."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, replace

from ..audio.vad import FRAME_SAMPLES, VAD_RATE
from ..conversation.end_of_turn import COMPLETE_ABOVE, TurnModel
from ..conversation.endpointing import (
    Endpointer,
    EndpointSettings,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    TurnCheck,
    word_rules,
)
from ..conversation.hearing import VoiceActivity
from ..conversation.turn_text import combine
from ..types import AudioChunk, ChatMessage
from .recordings import ENGLISH, MANDARIN, recorded_turns, recordings_dir
from .stats import percentile
from .turn_corpus import (
    AFTERTHOUGHT_EN,
    COMPLETE_EN,
    COMPLETE_ZH,
    PAUSED_EN,
    SpokenTurn,
    WhisperAligner,
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
    first_verdict: bool | None  # the first decision (True: complete); None: not asked
    model_ms: tuple[float, ...] = ()  # each model call's time
    heard: tuple[str, ...] = ()  # the speculative transcript each decision read ("": none yet)
    words_end: tuple[float | None, ...] = ()  # the language model's reading of each of those
    words_at_s: float | None = None  # when the last pause's transcript was done (after speech)
    afterthought: bool = False  # a whole sentence before the pause (turn_corpus.AFTERTHOUGHT_EN)


class Hearer:
    """The speculative transcript of a pause, as the engine's reply begun there would have it:
    the tier's STT for the turn's language (`by_language`, else `stt`) on the audio so far, its
    time measured once (cached by audio, so variants replayed over the same turns hear the same
    words at the same moment)."""

    def __init__(
        self,
        stt,
        *,
        by_language: dict | None = None,
        at_once: bool = False,
        heard: dict | None = None,
    ) -> None:
        self._stt, self._by_language, self._at_once = stt, by_language or {}, at_once
        self._heard: dict[bytes, tuple[str, float]] = {} if heard is None else heard

    def __call__(self, audio: AudioChunk, language: str = "en") -> tuple[str, float]:
        """(transcript, seconds the transcription took; 0 for `at_once`)."""
        key = hashlib.sha1(audio.pcm).digest() + language.encode()
        if key not in self._heard:
            started = time.perf_counter()
            text = self._by_language.get(language, self._stt).transcribe(audio).text
            self._heard[key] = (text, time.perf_counter() - started)
        text, took = self._heard[key]
        return text, 0.0 if self._at_once else took

    def at_once(self) -> Hearer:
        """The same words, each there the moment its pause begins: what the words could do on a
        machine fast enough to transcribe before the model answers."""
        return Hearer(self._stt, by_language=self._by_language, at_once=True, heard=self._heard)

    def p50_ms(self) -> float | None:
        times = [1000 * took for _, took in self._heard.values()]
        return round(percentile(times, 50), 1) if times else None


class WordsReader:
    """How likely the reply's language model reads a transcript's words to end the turn, as the
    reply begun at the pause reads it (a system prompt, then the words), its time measured once
    (cached by words, as `Hearer` caches transcripts)."""

    def __init__(self, chat, system_prompt: str, *, at_once: bool = False) -> None:
        """`at_once`: each reading there the moment its words are (what the readings decide on a
        machine fast enough, whatever the load on this one)."""
        self._chat, self._system, self._at_once = chat, system_prompt, at_once
        self._read: dict[str, tuple[float | None, float]] = {}

    def __call__(self, text: str) -> tuple[float | None, float]:
        """(probability, seconds the reading took; 0 for `at_once`)."""
        if text not in self._read:
            messages = [ChatMessage("system", self._system), ChatMessage("user", text)]
            started = time.perf_counter()
            end = self._chat.turn_end_probability(messages) if text else None
            self._read[text] = (end, time.perf_counter() - started)
        end, took = self._read[text]
        return end, 0.0 if self._at_once else took

    def readings(self) -> dict[str, float | None]:
        """Every transcript read so far, and its reading (whether or not it came in time)."""
        return {text: end for text, (end, _) in self._read.items()}


def replay(
    turn: SpokenTurn,
    settings: EndpointSettings,
    vad: VoiceActivity,
    model: TurnModel | None,
    hearer: Hearer | None = None,
    reader: WordsReader | None = None,
) -> TurnOutcome:
    """One turn through the endpointer; the first end of turn decides. With a `hearer`, each
    pause (`pause_ms`) is transcribed on one STT worker, as the speculative reply does, and a
    verdict reads the transcript only if it was done by the time the model answered; with a
    `reader`, only once the language model has read its words too (timed the same way)."""
    if model is None:
        settings = replace(settings, turn_check_ms=0)
    endpointer, samples = Endpointer(settings), turn.audio.to_float32()
    vad.reset()
    pending: list[tuple[int, int, bool, float, bool]] = []  # (due, check, complete, at, waited)
    verdicts: list[bool] = []
    heard: list[str] = []
    read: list[float | None] = []
    model_ms: list[float] = []
    # (transcript, stream time it is ready, the language model's reading of it)
    speculation: tuple[str, float, float | None] | None = None
    stt_free_at = 0.0  # the STT worker is busy until then (stream time)
    pcm = turn.audio.pcm
    for index in range(len(samples) // FRAME_SAMPLES):
        events = []
        for due in [p for p in pending if p[0] <= index]:
            pending.remove(due)
            ready = speculation is not None and speculation[1] <= due[3]
            wait = settings.turn_words_wait_ms / 1000
            if speculation is not None and not ready and due[2] and wait and not due[4]:
                at = min(speculation[1], due[3] + wait)  # a "complete" waits for the words
                pending.append((math.ceil(at / FRAME_S), due[1], due[2], at, True))
                continue
            text, end = (speculation[0], speculation[2]) if speculation and ready else (None, None)
            verdicts.append(_decision(settings, due[2], text, end))
            heard.append(text or "")
            read.append(end)
            events += endpointer.verdict(due[1], due[2], due[3], text, end)
        frame = pcm[2 * index * FRAME_SAMPLES : 2 * (index + 1) * FRAME_SAMPLES]
        probability = vad(samples[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES])
        events += endpointer.push(frame, probability)
        for event in events:
            if isinstance(event, SpeechPaused) and hearer is not None:
                text, took = hearer(event.audio, turn.language)
                stt_free_at = max(event.at, stt_free_at) + took
                end, reading = reader(text) if reader is not None else (None, 0.0)
                speculation = (text, stt_free_at + reading, end)
            elif isinstance(event, SpeechResumed):
                speculation = None  # the reply begun at the pause is dropped
            elif isinstance(event, TurnCheck) and model is not None:
                started = time.perf_counter()
                complete = model.probability(event.audio) > COMPLETE_ABOVE
                took = time.perf_counter() - started
                model_ms.append(1000 * took)
                due = index + 1 + math.ceil(took / FRAME_S)
                pending.append((due, event.number, complete, event.at + took, False))
            elif isinstance(event, SpeechEnded):
                premature = event.endpoint_at < turn.speech_end - 0.05
                return TurnOutcome(
                    turn.id, turn.voice, turn.pause is not None, premature,
                    event.endpoint_at - turn.speech_end, verdicts[0] if verdicts else None,
                    tuple(model_ms), tuple(heard), tuple(read),
                    speculation[1] - turn.speech_end if speculation is not None else None,
                    turn.afterthought,
                )  # fmt: skip
    first = verdicts[0] if verdicts else None
    return TurnOutcome(
        turn.id, turn.voice, turn.pause is not None, False, None, first, tuple(model_ms),
        tuple(heard), tuple(read), None, turn.afterthought,
    )  # fmt: skip


def _decision(
    settings: EndpointSettings, model_complete: bool, text: str | None, end: float | None
) -> bool:
    """Whether the endpointer takes this verdict for "complete" (the rule it applies itself)."""
    return combine(model_complete, text, words_end=end, **word_rules(settings)).complete


def summary(outcomes: list[TurnOutcome]) -> dict:
    """Premature ends on paused turns (afterthoughts apart); delay and first "incomplete" on
    complete turns."""
    paused = [o for o in outcomes if o.paused and not o.afterthought]
    afterthoughts = [o for o in outcomes if o.afterthought]
    complete = [o for o in outcomes if not o.paused]
    delays = [1000 * o.delay_s for o in complete if o.delay_s is not None and not o.premature]
    # a paused turn not ended early ends after its second half: how long that end took
    after_pause = [1000 * o.delay_s for o in paused if o.delay_s is not None and not o.premature]
    asked = [o for o in complete if o.first_verdict is not None]
    calls = [ms for o in outcomes for ms in o.model_ms]
    return {
        "paused_turns": len(paused),
        "premature_ends": sum(o.premature for o in paused),
        "afterthoughts": len(afterthoughts),
        "afterthoughts_ended_early": sum(o.premature for o in afterthoughts),
        "complete_turns": len(complete),
        "complete_cut_short": sum(o.premature for o in complete),
        "never_ended": sum(o.delay_s is None for o in outcomes),
        "delay_p50_ms": round(percentile(delays, 50), 1) if delays else None,
        "delay_p95_ms": round(percentile(delays, 95), 1) if delays else None,
        "paused_delay_p50_ms": round(percentile(after_pause, 50), 1) if after_pause else None,
        "paused_delay_p95_ms": round(percentile(after_pause, 95), 1) if after_pause else None,
        "false_incomplete": sum(o.first_verdict is False for o in asked),
        "asked": len(asked),
        "model_call_p50_ms": round(percentile(calls, 50), 1) if calls else None,
        # the reply begun at the pause cannot play before its transcript: the endpoint's delay
        # past that moment is what the end of turn adds to voice to voice
        "past_words_p95_ms": _past_words_p95(complete),
    }


def _past_words_p95(complete: list[TurnOutcome]) -> float | None:
    past = [
        1000 * max(0.0, o.delay_s - o.words_at_s)
        for o in complete
        if o.delay_s is not None and o.words_at_s is not None and not o.premature
    ]
    return round(percentile(past, 95), 1) if past else None


def by_voice(outcomes: list[TurnOutcome]) -> dict[str, dict]:
    voices = dict.fromkeys(o.voice for o in outcomes)
    return {voice: summary([o for o in outcomes if o.voice == voice]) for voice in voices}


def corpus(config, store, cache, quick: bool) -> list[SpokenTurn]:
    """Complete, paused and afterthought turns from espeak-ng, Piper and Kokoro (quick: espeak-ng
    and Piper, fewer turns), their pauses put at the words' boundaries (WhisperAligner); complete
    Mandarin ones from espeak-ng and Kokoro; and recorded human turns, English and Mandarin, when
    `recordings-en` and `recordings-zh` are pulled."""
    from ..providers.registry import create_tts

    piper = create_tts(replace(config, tts=replace(config.tts, voice=PIPER_VOICE)), store)
    speakers = {"espeak-ng": espeak_speaker(cache), "piper": tts_speaker(piper, PIPER_VOICE)}
    chinese = {"espeak-ng zh": mandarin_speaker(cache)}
    if not quick:
        kokoro = create_tts(replace(config, tts=replace(config.tts, voice=KOKORO_VOICE)), store)
        speakers["kokoro"] = tts_speaker(kokoro, KOKORO_ENGLISH)
        chinese["kokoro zh"] = tts_speaker(kokoro, KOKORO_VOICE)
    complete, paused = COMPLETE_EN[: 3 if quick else None], PAUSED_EN[: 4 if quick else None]
    afterthoughts = AFTERTHOUGHT_EN[: 2 if quick else None]
    words_aligner = aligner(store)
    turns = []
    for name, speak in speakers.items():
        turns += complete_turns(name, speak, complete)
        turns += paused_turns(name, speak, paused, words_aligner)
        turns += paused_turns(name, speak, afterthoughts, words_aligner, afterthought=True)
    for name, speak in chinese.items():
        turns += complete_turns(name, speak, COMPLETE_ZH[: 1 if quick else None])
    for recordings in (ENGLISH, MANDARIN):
        if recorded := recordings_dir(store, recordings):
            turns += recorded_turns(recorded, recordings)
    return turns


ALIGNER_MODEL = "whisper-base"  # its word timings are closer than tiny.en's


def aligner(store) -> WhisperAligner:
    """The corpus' aligner: ALIGNER_MODEL on the CPU."""
    from faster_whisper import WhisperModel

    path = store.require(ALIGNER_MODEL, "stt")
    return WhisperAligner(WhisperModel(str(path), device="cpu", compute_type="int8"))


PIPER_VOICE, KOKORO_VOICE, KOKORO_ENGLISH = "en_US-joe-medium", "kokoro-nezumi", "kokoro-alpha"


def measure(
    turns: list[SpokenTurn],
    settings: EndpointSettings,
    model: TurnModel,
    stt=None,
    stt_by_language: dict | None = None,
    reader: WordsReader | None = None,
) -> dict:
    """Side by side on the same turns: the model alone ("smart"); with `stt`, the endpointer as
    configured ("configured": the speculative transcript's words, waited for up to
    `turn_words_wait_ms` after a "complete", and with `reader` the language model's reading of
    them where the settings weigh it), the same without that reading ("unread"), with
    `turn_question_ends` the other way ("question_flipped"), never waiting for the words
    ("combined"), or with each pause's words there at once ("combined_at_once": the bound on a
    fast machine); fixed silence at its configured length, and at the length that gives the
    smart one's median delay. A turn is heard by `stt_by_language`'s STT for its language, else
    by `stt`."""
    from ..audio.vad import SileroVAD

    vad = SileroVAD.load()
    alone = replace(settings, turn_text_check=False)
    smart = [replay(turn, alone, vad, model) for turn in turns]
    fixed = [replay(turn, settings, vad, None) for turn in turns]
    results = {"smart": summary(smart), "by_voice": by_voice(smart), "silence": summary(fixed)}
    if stt is not None:
        hearer = Hearer(stt, by_language=stt_by_language)
        configured = replace(settings, turn_text_check=True)
        reading = reader if configured.reads_words_end else None
        outcomes = [replay(turn, configured, vad, model, hearer, reading) for turn in turns]
        results["configured"] = summary(outcomes)
        results["configured_by_voice"] = by_voice(outcomes)
        results["heard"] = {o.id: [list(o.heard), list(o.words_end)] for o in outcomes}
        flipped = replace(configured, turn_question_ends=not settings.turn_question_ends)
        others = {
            "unread": (configured, hearer, None),
            "question_flipped": (flipped, hearer, reading),
            "combined": (replace(configured, turn_words_wait_ms=0), hearer, reading),
            "combined_at_once": (replace(configured, turn_words_wait_ms=0), hearer.at_once(), None),
        }
        for key, (variant, heard, read) in others.items():
            if key != "unread" or reading is not None:
                outcomes = [replay(turn, variant, vad, model, heard, read) for turn in turns]
                results[key] = summary(outcomes)
        results["stt_p50_ms"] = hearer.p50_ms()
    same = results["smart"]["delay_p50_ms"]
    if same:
        matched = replace(settings, silence_ms=int(same))
        results["silence_same_latency"] = summary([replay(t, matched, vad, None) for t in turns])
        results["silence_same_latency"]["silence_ms"] = int(same)
    return results
