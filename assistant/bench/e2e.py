"""Voice to voice through the real `Conversation` (Silero VAD, endpointing, STT, LLM, TTS).

Each utterance is fed in real time, 20 ms at a time, after and before silence, as a microphone
would deliver it. The clock of the fed stream is the wall clock: sample n of the stream is due
at `clock + n / rate`, and a chunk is handed over once its last sample is due (later, if the
event loop is busy: that lag is the system's, so it counts). The true end of speech is the due
time of the utterance's last speech sample, known from the file.

The sequential chain answers the same utterances with no streaming: transcribe all, generate
all, synthesize all. Its endpointing delay is the one the same Silero VAD and endpointer give on
the same audio, in stream time (silence_ms plus the VAD's lag), added to the chain's wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from ..audio.codec import silence
from ..conversation.endpointing import Endpointer, EndpointSettings, SpeechEnded
from ..conversation.engine import Conversation
from ..conversation.events import STAGES as TURN_STAGES
from ..conversation.events import State, TurnEnded
from ..conversation.options import ConversationOptions
from ..providers import speak_text
from ..types import AudioChunk, ChatMessage
from .corpus import RATE, Utterance
from .sinks import FirstAudioSink, SpeakerSink

CHUNK_SAMPLES = 320  # 20 ms at 16 kHz
LEAD_SILENCE = 0.5  # seconds of silence before each utterance
TURN_TIMEOUT = 60.0  # seconds to wait for a reply
NO_TURN_AFTER = 4.0  # seconds after the speech with no turn begun: nothing was heard
STAGES = tuple(stage for stage in TURN_STAGES if stage != "done")  # up to the first audio


class RealTimeFeed:
    """Feeds a conversation in real time on the stream's own clock."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.clock: float | None = None  # monotonic time of stream sample 0
        self.samples = 0

    async def play(self, pcm: bytes) -> float:
        """Feed `pcm` (16 kHz int16); returns the due time of its first sample."""
        if self.clock is None:
            self.clock = time.monotonic()
        start = self.clock + self.samples / RATE
        step = 2 * CHUNK_SAMPLES
        for offset in range(0, len(pcm), step):
            piece = pcm[offset : offset + step]
            due = self.clock + (self.samples + len(piece) // 2) / RATE
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.conversation.feed(AudioChunk(piece, RATE))
            self.samples += len(piece) // 2
        return start

    async def silence_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Silence until `done()` holds; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        quiet = silence(CHUNK_SAMPLES / RATE, RATE).pcm
        while not done():
            if time.monotonic() > deadline:
                return False
            await self.play(quiet)
        return True


class _Events:
    """The turns a conversation finished."""

    def __init__(self) -> None:
        self.turns: list[TurnEnded] = []

    def __call__(self, event) -> None:
        if isinstance(event, TurnEnded):
            self.turns.append(event)


async def streaming_pass(
    engines,
    vad,
    options: ConversationOptions,
    history: list[ChatMessage],
    utterances: list[Utterance],
) -> list[dict]:
    """One conversation: every utterance in turn; voice to voice and the stages of each."""
    sink, events = FirstAudioSink(), _Events()
    vad.reset()
    conversation = _conversation(engines, vad, sink, options, events, history)
    microphone = RealTimeFeed(conversation)
    results = []
    try:
        for utterance in utterances:
            sink.arm()
            turns = len(events.turns)
            await microphone.play(silence(LEAD_SILENCE, RATE).pcm)
            start = await microphone.play(utterance.audio.pcm)
            true_end = start + utterance.speech_end

            def answered(turns=turns, true_end=true_end) -> bool:
                """Idle again after a turn, or long after the speech with no turn at all."""
                if conversation.state != State.LISTENING or conversation.busy:
                    return False
                return len(events.turns) > turns or time.monotonic() > true_end + NO_TURN_AFTER

            await microphone.silence_until(answered, TURN_TIMEOUT)
            turn = events.turns[-1] if len(events.turns) > turns else None
            results.append(_turn_result(utterance, turn, sink.first_play, true_end))
    finally:
        await conversation.close()
    return results


def _turn_result(
    utterance: Utterance, turn: TurnEnded | None, first_play: float | None, true_end: float
) -> dict:
    def since_end(moment: float | None) -> float | None:
        return None if moment is None else round(1000 * (moment - true_end), 1)

    stages = {name: since_end(getattr(turn.timings, name)) for name in STAGES} if turn else {}
    return {
        "utterance": utterance.id,
        "voice_to_voice_ms": since_end(first_play),
        "heard": turn.user if turn else "",
        "reply": turn.spoken if turn else "",
        "stages_ms": stages,
        "speculated_ms": since_end(getattr(turn.timings, "speculated", None)) if turn else None,
    }


def endpoint_offline(
    vad, settings: EndpointSettings, utterance: Utterance
) -> tuple[float, AudioChunk]:
    """Seconds from the true end of speech to the endpoint, in stream time, and the audio the
    endpointer hands over: the same VAD and endpointer as the conversation, run as fast as
    they go over the same stream (lead silence, the utterance, silence)."""
    vad.reset()
    endpointer = Endpointer(settings)
    stream = silence(LEAD_SILENCE, RATE).pcm + utterance.audio.pcm + silence(3.0, RATE).pcm
    true_end = LEAD_SILENCE + utterance.speech_end
    frame_bytes = 2 * vad.frame_samples
    for offset in range(0, len(stream) - frame_bytes + 1, frame_bytes):
        frame = stream[offset : offset + frame_bytes]
        probability = vad(AudioChunk(frame, RATE).to_float32())
        for event in endpointer.push(frame, probability):
            if isinstance(event, SpeechEnded):
                return event.endpoint_at - true_end, event.audio
    raise RuntimeError(f"the endpointer never ended {utterance.id}")


def sequential_pass(
    engines,
    vad,
    options: ConversationOptions,
    history: list[ChatMessage],
    utterances: list[Utterance],
) -> list[dict]:
    """One conversation answered by the plain chain: transcribe all, generate all, speak all."""
    history = list(history)
    results = []
    for utterance in utterances:
        endpoint_delay, audio = endpoint_offline(vad, options.endpointing, utterance)
        start = time.perf_counter()
        heard = engines.stt.transcribe(audio).text
        transcribed = time.perf_counter()
        reply = "".join(engines.chat.stream_chat([*history, ChatMessage("user", heard)])).strip()
        generated = time.perf_counter()
        speech = list(speak_text(engines.tts, reply, voice=options.voice, speed=options.speed))
        spoken = time.perf_counter()
        history += [ChatMessage("user", heard), ChatMessage("assistant", reply)]
        results.append(
            {
                "utterance": utterance.id,
                "voice_to_voice_ms": round(1000 * (endpoint_delay + spoken - start), 1),
                "endpoint_ms": round(1000 * endpoint_delay, 1),
                "stt_ms": round(1000 * (transcribed - start), 1),
                "llm_ms": round(1000 * (generated - transcribed), 1),
                "tts_ms": round(1000 * (spoken - generated), 1),
                "audio_s": round(sum(c.seconds for c in speech), 2),
            }
        )
    return results


async def barge_in_trial(
    engines,
    vad,
    options: ConversationOptions,
    history: list[ChatMessage],
    question: Utterance,
    interruption: Utterance,
) -> dict:
    """Ask `question`; while the reply plays, say `interruption`. Onset of the interrupting
    speech (from its file) to the moment playback went silent (held or flushed)."""
    sink, events = SpeakerSink(), _Events()
    vad.reset()
    conversation = _conversation(engines, vad, sink, options, events, history)
    microphone = RealTimeFeed(conversation)
    try:
        await microphone.play(silence(LEAD_SILENCE, RATE).pcm)
        await microphone.play(question.audio.pcm)
        if not await microphone.silence_until(lambda: sink.first_play is not None, TURN_TIMEOUT):
            return {"reaction_ms": None, "note": "the question got no spoken reply"}
        await microphone.play(silence(0.6, RATE).pcm)  # some of the reply is heard
        left = sink.pending_seconds()
        sink.watch()
        start = await microphone.play(interruption.audio.pcm)
        onset = start + interruption.speech_start
        await microphone.silence_until(lambda: sink.cleared_at is not None, 2.0)
        interrupted = [t for t in events.turns if t.interrupted]
        return {
            "reaction_ms": _ms(sink.silenced_at, onset),
            "flushed_ms": _ms(sink.cleared_at, onset),
            "engine_ms": interrupted[0].timings.latencies_ms().get("barge_in")
            if interrupted
            else None,
            "reply_left_s": round(left, 2),
        }
    finally:
        conversation.mute()  # the interrupting words are not answered: the trial is over
        with contextlib.suppress(Exception):
            await conversation.wait_idle()
        await conversation.close()


def _ms(moment: float | None, since: float) -> float | None:
    return None if moment is None else round(1000 * (moment - since), 1)


def _conversation(engines, vad, sink, options, events, history) -> Conversation:
    """The real engine, as `assistant talk` builds it, with the benchmark's sink and listener."""
    return Conversation(
        engines.stt, engines.chat, engines.tts, vad, sink, options,
        on_event=events, history=list(history), turn_model=engines.turn,
    )  # fmt: skip
