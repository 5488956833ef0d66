"""The conversation engine: hear a turn, think, speak; barge-in, pause, mute, new conversation.

Audio comes in through `feed` (any rate) and goes out through an `AudioSink`, so the terminal
loop and the browser session drive the same engine. One asyncio task per reply: the LLM stream
feeds a sentence queue that TTS turns into audio for the sink. Cancelling that task is barge-in:
the sink is flushed, the LLM stream is closed on its own thread, and the history keeps only what
was actually played.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from .audio import StreamResampler
from .endpointing import (
    Endpointer,
    EndpointSettings,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)
from .providers import ChatModel, SpeechToText, TextToSpeech, close_stream
from .text import SpeakableStream
from .types import AudioChunk, ChatMessage

DRAIN_POLL = 0.02  # seconds between checks that the sink has played everything


class State(StrEnum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"
    MUTED = "muted"


class AudioSink(Protocol):
    """Where the assistant's voice goes: a speaker, or a browser over a WebSocket."""

    def play(self, chunk: AudioChunk) -> None:
        """Queue audio to be played after what is already queued."""
        ...

    def clear(self) -> None:
        """Stop at once and drop everything queued."""
        ...

    def pending_seconds(self) -> float:
        """Audio queued but not played yet."""
        ...

    def set_paused(self, paused: bool) -> None:
        """Hold playback (keeping the queue) or go on."""
        ...


class VoiceActivity(Protocol):
    frame_samples: int
    sample_rate: int

    def __call__(self, frame: np.ndarray) -> float:
        """Speech probability of one frame of float32 samples."""
        ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class ConversationOptions:
    system_prompt: str
    voice: str | None = None
    speed: float = 1.0
    barge_in: bool = True
    barge_in_ms: int = 300  # voiced time during playback that interrupts
    barge_in_threshold: float = 0.8  # stricter than listening: the assistant's own echo is quieter
    barge_in_hold_ms: int = 0  # voiced time during playback that holds it until barge_in_ms
    # tells (speech goes on: interrupt) or the speech stops (playback goes on); 0: no hold
    hold_llm_for_first_audio: bool = True  # two cores: let TTS have them for the first sentence
    endpointing: EndpointSettings = field(default_factory=EndpointSettings)


@dataclass(frozen=True)
class TurnTimings:
    """Monotonic clock readings (time.monotonic()) of one turn; None where not reached."""

    speech_end: float | None = None  # the user's last voiced audio
    endpoint: float | None = None  # silence long enough: the turn is over
    transcript: float | None = None
    first_token: float | None = None
    first_sentence: float | None = None  # first chunk ready for TTS
    first_audio: float | None = None  # first audio handed to the sink
    barge_in_onset: float | None = None  # the user's speech that interrupted began
    playback_stopped: float | None = None  # the sink fell silent (held, then flushed)
    speculated: float | None = None  # the reply was begun at a pause, before the endpoint

    def latencies_ms(self) -> dict[str, float]:
        """Each stage's time since the end of the user's speech (barge-in: since its onset)."""
        out = {}
        for name in ("endpoint", "transcript", "first_token", "first_sentence", "first_audio"):
            value = getattr(self, name)
            if value is not None and self.speech_end is not None:
                out[name] = round(1000 * (value - self.speech_end), 1)
        if self.barge_in_onset is not None and self.playback_stopped is not None:
            out["barge_in"] = round(1000 * (self.playback_stopped - self.barge_in_onset), 1)
        return out


@dataclass(frozen=True)
class StateChanged:
    state: State


@dataclass(frozen=True)
class UserSaid:
    text: str
    audio: AudioChunk | None = None  # the utterance as heard (16 kHz)
    ended_at: float = 0.0  # wall clock (time.time()) of the end of the speech


@dataclass(frozen=True)
class AssistantSaying:
    text: str  # a chunk handed to the speaker


@dataclass(frozen=True)
class TurnEnded:
    user: str
    generated: str  # what the model wrote
    spoken: str  # what was actually played
    interrupted: bool
    timings: TurnTimings
    started_at: float  # wall clock (time.time()) of the user's turn end
    ended_at: float
    audio: tuple[AudioChunk, ...] = ()  # the reply as synthesized (all of it, even if cut off)


@dataclass(frozen=True)
class ConversationReset:
    """The user started a new conversation: the history was cleared."""


@dataclass(frozen=True)
class Notice:
    message: str  # something the user should know (an engine failed, a device vanished)


Event = StateChanged | UserSaid | AssistantSaying | TurnEnded | ConversationReset | Notice


@dataclass
class _Reply:
    """What one reply has queued, so an interruption can tell what was heard."""

    timings: TurnTimings
    started_at: float  # wall clock (time.time())
    chunks: list[tuple[str, float, float]] = field(default_factory=list)  # text, start, end (s)
    queued: float = 0.0  # seconds handed to the sink
    generated: list[str] = field(default_factory=list)
    audio: list[AudioChunk] = field(default_factory=list)
    heard_at_stop: float | None = None  # seconds played when playback was stopped
    for_more_speech: bool = False  # cancelled because the user went on talking
    # begun at a pause (speculatively): nothing is said or shown until the endpoint confirms it
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    heard: tuple[str, AudioChunk | None, str] | None = None  # transcript, audio, user text
    turn_audio: AudioChunk | None = None  # the whole turn, when it ended after the pause
    announced: bool = False  # UserSaid was emitted

    def spoken_text(self, heard: float) -> str:
        words: list[str] = []
        for text, start, end in self.chunks:
            if heard >= end - 1e-6:
                words.extend(text.split())
            elif heard > start:
                chunk_words = text.split()
                words.extend(chunk_words[: int(len(chunk_words) * (heard - start) / (end - start))])
        return " ".join(words)


class Conversation:
    """One hands-free conversation. Call `feed` with microphone audio from the event loop."""

    def __init__(
        self,
        stt: SpeechToText,
        chat: ChatModel,
        tts: TextToSpeech,
        vad: VoiceActivity,
        sink: AudioSink,
        options: ConversationOptions,
        *,
        on_event: Callable[[Event], None] = lambda event: None,
        history: list[ChatMessage] | None = None,
    ) -> None:
        self._stt, self._chat, self._tts, self._vad, self._sink = stt, chat, tts, vad, sink
        self.options = options
        self._on_event = on_event
        self.history: list[ChatMessage] = list(history or [])
        self._endpointer = Endpointer(options.endpointing)
        self._workers = {
            name: ThreadPoolExecutor(1, f"assistant-{name}") for name in ("stt", "llm", "tts")
        }
        self._resampler: StreamResampler | None = None
        self._pending = b""
        self._clock_offset = time.monotonic()  # monotonic time minus stream time
        self._activity = State.LISTENING
        self._paused = self._muted = False
        self._reply_task: asyncio.Task | None = None
        self._reply: _Reply | None = None
        self._loud_frames = 0  # consecutive frames above the barge-in threshold while speaking
        self._held_at: float | None = None  # playback held for possible barge-in since (monotonic)
        self._unanswered = ""  # user speech whose reply was cut off by more user speech
        self._state = State.LISTENING

    # --- state -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        if self._paused:
            return State.PAUSED
        if self._muted and self._activity == State.LISTENING:
            return State.MUTED
        return self._activity

    @property
    def busy(self) -> bool:
        """A reply is under way (including one begun at a pause, not yet known to be needed)."""
        return self._reply_task is not None and not self._reply_task.done()

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def paused(self) -> bool:
        return self._paused

    def _set_activity(self, activity: State) -> None:
        self._activity = activity
        self._announce()

    def _announce(self) -> None:
        if self.state != self._state:
            self._state = self.state
            self._emit(StateChanged(self._state))

    def _emit(self, event: Event) -> None:
        self._on_event(event)

    # --- controls --------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold everything: playback stops where it is, the microphone is not heard."""
        self._paused = True
        self._sink.set_paused(True)
        self._endpointer.reset()
        self._drop_speculation()
        self._announce()

    def resume(self) -> None:
        self._paused = False
        self._held_at, self._loud_frames = None, 0
        self._sink.set_paused(False)
        self._announce()

    def mute(self) -> None:
        """Stop hearing the microphone; a reply already under way is still spoken."""
        self._muted = True
        self._endpointer.reset()
        self._drop_speculation()
        self._loud_frames = 0
        self._release_hold()  # nothing more is heard that could confirm an interruption
        self._announce()

    def unmute(self) -> None:
        self._muted = False
        self._announce()

    def interrupt(self) -> None:
        """Stop speaking now and cancel the reply; what was heard stays in the history."""
        if self._drop_speculation():
            return
        if self._reply_task and not self._reply_task.done():
            self._stop_playback()
            self._reply_task.cancel()

    def new_conversation(self) -> None:
        self.interrupt()
        self._unanswered = ""
        self.history = [m for m in self.history if m.role == "system"]
        self._emit(ConversationReset())

    async def close(self) -> None:
        if self._reply_task:
            self.interrupt()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reply_task
        for worker in self._workers.values():
            worker.shutdown(wait=False, cancel_futures=True)

    async def wait_idle(self) -> None:
        """Wait until no reply is under way."""
        while self._reply_task and not self._reply_task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reply_task)

    # --- hearing ---------------------------------------------------------------------------

    def feed(self, audio: AudioChunk) -> None:
        """Microphone audio, in order, at any rate. Runs VAD and endpointing on the loop."""
        if self._paused or self._muted:
            return
        rate = self._vad.sample_rate
        if self._resampler is None or self._resampler.in_rate != audio.sample_rate:
            self._resampler = StreamResampler(audio.sample_rate, rate)
        self._pending += self._resampler.push(audio.pcm)
        frame_bytes = 2 * self._vad.frame_samples
        frame_seconds = self._vad.frame_samples / rate
        frames = len(self._pending) // frame_bytes
        # the newest sample arrived now: map the stream clock onto the monotonic clock
        self._clock_offset = time.monotonic() - (self._endpointer.now + frames * frame_seconds)
        for index in range(frames):
            frame = self._pending[index * frame_bytes : (index + 1) * frame_bytes]
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0
            probability = self._vad(samples)
            for event in self._endpointer.push(frame, probability):
                self._on_speech_event(event)
            self._check_barge_in(probability, frame_seconds)
        self._pending = self._pending[frames * frame_bytes :]

    def _on_speech_event(
        self, event: SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded
    ) -> None:
        if isinstance(event, SpeechStarted):
            if self._activity == State.THINKING:  # the user goes on talking: answer it all later
                self._stop_reply_for_more_speech()
            return
        if isinstance(event, SpeechPaused):
            self._speculate(event)
            return
        if isinstance(event, SpeechResumed):
            self._drop_speculation()  # the user goes on: what was begun is thrown away
            return
        if self._activity == State.SPEAKING:
            return  # heard over our own voice, not loud or long enough to barge in: no turn
        timings = TurnTimings(
            speech_end=event.speech_end + self._clock_offset,
            endpoint=event.endpoint_at + self._clock_offset,
        )
        if not self._confirm_speculation(event.audio, timings):
            self._start_reply(event.audio, timings)

    def _speculate(self, event: SpeechPaused) -> None:
        """A short pause: begin the reply now (transcribe, think, synthesize the first words)
        but say and play nothing until the endpoint confirms that the turn is over."""
        if self._activity != State.LISTENING or self.busy:
            return
        timings = TurnTimings(
            speech_end=event.speech_end + self._clock_offset, speculated=time.monotonic()
        )
        self._start_reply(event.audio, timings, speculative=True)

    def _confirm_speculation(self, audio: AudioChunk, timings: TurnTimings) -> bool:
        """The endpoint came with no speech since the pause: the reply begun then is the one."""
        reply = self._reply
        if reply is None or reply.confirmed.is_set() or not self.busy:
            return False
        ended = {"speech_end": timings.speech_end, "endpoint": timings.endpoint}
        reply.timings = replace(reply.timings, **ended)
        reply.turn_audio = audio
        reply.confirmed.set()
        self._set_activity(State.THINKING)
        self._announce_heard(reply)
        return True

    def _drop_speculation(self) -> bool:
        """Cancel a reply begun at a pause and not yet confirmed; True if there was one."""
        reply = self._reply
        if reply is None or reply.confirmed.is_set() or not self.busy:
            return False
        assert self._reply_task is not None
        self._reply_task.cancel()
        return True

    def _check_barge_in(self, probability: float, frame_seconds: float) -> None:
        """Interrupt when speech clearly above our own echo lasts `barge_in_ms` during playback.
        With `barge_in_hold_ms`, playback is held as soon as such speech lasts that long, and
        goes on if the speech stops before `barge_in_ms`."""
        options = self.options
        speaking = self._activity == State.SPEAKING and options.barge_in
        loud = speaking and probability >= options.barge_in_threshold
        self._loud_frames = self._loud_frames + 1 if loud else 0
        heard = self._loud_frames * frame_seconds
        if not loud:
            self._release_hold()
        elif options.barge_in_hold_ms and heard * 1000 >= options.barge_in_hold_ms:
            self._hold()
        if loud and heard * 1000 >= options.barge_in_ms and self._reply is not None:
            self._reply.timings = replace(
                self._reply.timings, barge_in_onset=time.monotonic() - heard
            )
            self._loud_frames = 0
            self.interrupt()

    def _hold(self) -> None:
        if self._held_at is None and not self._paused:
            self._held_at = time.monotonic()
            self._sink.set_paused(True)

    def _release_hold(self) -> None:
        """Playback goes on (after a hold for speech that did not last)."""
        if self._held_at is not None:
            self._held_at = None
            if not self._paused:
                self._sink.set_paused(False)

    def _stop_reply_for_more_speech(self) -> None:
        """The user goes on talking before hearing a reply: answer everything together later."""
        reply = self._reply
        if self._reply_task and not self._reply_task.done() and reply and not reply.chunks:
            reply.for_more_speech = True
            if reply.timings.transcript is not None:  # else the transcription finishes first
                self._reply_task.cancel()

    def _stop_playback(self) -> None:
        reply = self._reply
        if reply is not None and reply.heard_at_stop is None:
            reply.heard_at_stop = reply.queued - self._sink.pending_seconds()
        self._sink.clear()
        stopped = self._held_at or time.monotonic()
        self._release_hold()  # the queue is empty: the next reply plays at once
        if reply is not None:
            reply.timings = replace(reply.timings, playback_stopped=stopped)

    # --- replying --------------------------------------------------------------------------

    def submit_text(self, text: str) -> None:
        """A typed turn (no microphone): answered aloud like a spoken one."""
        if text.strip():
            now = time.monotonic()
            self._start_reply(text.strip(), TurnTimings(speech_end=now, endpoint=now))

    def _start_reply(
        self, said: AudioChunk | str, timings: TurnTimings, *, speculative: bool = False
    ) -> None:
        if self._reply_task and not self._reply_task.done():
            self.interrupt()
        reply = self._reply = _Reply(timings=timings, started_at=time.time())
        if not speculative:
            reply.confirmed.set()
        self._reply_task = asyncio.get_running_loop().create_task(self._respond(said, reply))

    async def _run(self, worker: str, function: Callable, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._workers[worker], function, *args)

    def _mark(self, reply: _Reply, **moment: float) -> None:
        reply.timings = replace(reply.timings, **moment)

    async def _respond(self, said: AudioChunk | str, reply: _Reply) -> None:
        if reply.confirmed.is_set():
            self._set_activity(State.THINKING)
        user_text = ""
        audio = said if isinstance(said, AudioChunk) else None
        try:
            if audio is None:
                heard = str(said)
            else:
                heard = (await self._run("stt", self._stt.transcribe, audio)).text
            self._mark(reply, transcript=time.monotonic())
            user_text = " ".join(part for part in (self._unanswered, heard) if part)
            if not user_text:
                return
            reply.heard = (heard, audio, user_text)
            self._announce_heard(reply)
            if reply.for_more_speech:
                return
            await self._think_and_speak(user_text, reply)
            await reply.confirmed.wait()
            self._finish(user_text, reply, interrupted=False)
        except asyncio.CancelledError:
            confirmed = reply.confirmed.is_set()
            if user_text and confirmed and not reply.for_more_speech:  # keep what was heard
                self._finish(user_text, reply, interrupted=True)
            raise
        except Exception as error:  # an engine failed: say so and keep listening
            self._emit(Notice(f"the reply failed: {error}"))
        finally:
            if self._reply is reply:
                self._reply = None
            if not self.options.barge_in and self._activity == State.SPEAKING:
                self._endpointer.reset()  # what was heard over our voice is not a turn
            self._set_activity(State.LISTENING)

    def _announce_heard(self, reply: _Reply) -> None:
        """What the user said, once it is both transcribed and known to be a turn."""
        if reply.heard is None or reply.announced or not reply.confirmed.is_set():
            return
        reply.announced = True
        heard, audio, user_text = reply.heard
        self._unanswered = user_text
        if heard:
            ended_at = time.time() - (time.monotonic() - (reply.timings.speech_end or 0))
            self._emit(UserSaid(heard, reply.turn_audio or audio, ended_at))

    async def _think_and_speak(self, user_text: str, reply: _Reply) -> None:
        messages = [*self.history, ChatMessage("user", user_text)]
        stream = self._chat.stream_chat(messages)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        first_audio = asyncio.Event()
        speaker = asyncio.get_running_loop().create_task(self._speak(sentences, reply, first_audio))
        try:
            await self._generate(stream, sentences, reply, first_audio)
            await speaker
        finally:
            speaker.cancel()
            # on the model's own thread, after any next() still under way there
            self._workers["llm"].submit(close_stream, stream)

    async def _generate(
        self, stream: Iterator[str], sentences: asyncio.Queue, reply: _Reply, first: asyncio.Event
    ) -> None:
        splitter = SpeakableStream()
        while (delta := await self._run("llm", next, stream, None)) is not None:
            if not reply.generated:
                self._mark(reply, first_token=time.monotonic())
            reply.generated.append(delta)
            for chunk in splitter.feed(delta):
                await self._queue_sentence(chunk, sentences, reply, first)
        for chunk in splitter.flush():
            await self._queue_sentence(chunk, sentences, reply, first)
        await sentences.put(None)

    async def _queue_sentence(
        self, chunk: str, sentences: asyncio.Queue, reply: _Reply, first: asyncio.Event
    ) -> None:
        await sentences.put(chunk)
        if reply.timings.first_sentence is None:
            self._mark(reply, first_sentence=time.monotonic())
            if self.options.hold_llm_for_first_audio:
                await first.wait()  # two cores: let TTS have them for the first audio

    async def _speak(self, sentences: asyncio.Queue, reply: _Reply, first: asyncio.Event) -> None:
        options = self.options
        try:
            while (sentence := await sentences.get()) is not None:
                audio = await self._run(
                    "tts", _synthesize, self._tts, sentence, options.voice, options.speed
                )
                await reply.confirmed.wait()  # a speculative reply plays only once it is the turn
                if audio:
                    start = reply.queued
                    for chunk in audio:
                        self._sink.play(chunk)
                        reply.queued += chunk.seconds
                        reply.audio.append(chunk)
                    reply.chunks.append((sentence, start, reply.queued))
                    if reply.timings.first_audio is None:
                        self._mark(reply, first_audio=time.monotonic())
                        self._set_activity(State.SPEAKING)
                    self._emit(AssistantSaying(sentence))
                first.set()
        finally:
            first.set()  # never leave the generator waiting
        while self._sink.pending_seconds() > 0:
            await asyncio.sleep(DRAIN_POLL)

    def _finish(self, user_text: str, reply: _Reply, *, interrupted: bool) -> None:
        heard = reply.queued if reply.heard_at_stop is None else reply.heard_at_stop
        spoken = reply.spoken_text(heard)
        self.history.append(ChatMessage("user", user_text))
        if spoken:
            self.history.append(ChatMessage("assistant", spoken))
        self._unanswered = ""
        self._emit(
            TurnEnded(
                user=user_text,
                generated="".join(reply.generated).strip(),
                spoken=spoken,
                interrupted=interrupted,
                timings=reply.timings,
                started_at=reply.started_at,
                ended_at=time.time(),
                audio=tuple(reply.audio),
            )
        )


def _synthesize(tts: TextToSpeech, text: str, voice: str | None, speed: float) -> list[AudioChunk]:
    return list(tts.synthesize(text, voice=voice, speed=speed))
