"""The hands-free engine: turn-taking only. It hears (VAD, endpointing), decides when a turn
begins and ends, and starts, confirms and cancels `Reply` objects, which do the answering.

Audio comes in through `feed` (any rate) and goes out through an `AudioSink`, so the terminal
loop and the browser session drive the same engine. One asyncio task per reply; cancelling it is
barge-in: the sink is flushed, the model's stream is closed on its own thread, and the history
keeps only what was actually played. Every change of turn-taking state goes through `_enter`,
which checks it against `TRANSITIONS`. The wake word's gate is in wake.py, the queue of things
said unprompted (a timer rang) in announcements.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..providers import ChatModel, SpeechToText, TextToSpeech
from ..types import AudioChunk, ChatMessage
from .announcements import AnnouncementQueue
from .barge_in import BargeIn, BargeInGuard
from .end_of_turn import TurnJudge, TurnModel
from .endpointing import (
    SpeechEnded,
    SpeechEvent,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnCheck,
)
from .events import (
    Announced,
    AssistantSaying,
    ConversationEvent,
    ConversationReset,
    State,
    StateChanged,
    TurnTimings,
)
from .hearing import Frame, Hearing, VoiceActivity
from .options import ConversationOptions
from .reply import Reply, Stages, Workers
from .sinks import AudioSink, EchoingSink
from .skills import Announcement, Skills
from .turn_state import FREE, TRANSITIONS, TurnState, shown
from .wake import WakeGate, WakeWordDetector, earcon


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
        on_event: Callable[[ConversationEvent], None] = lambda event: None,
        history: list[ChatMessage] | None = None,
        wake_word: WakeWordDetector | None = None,
        turn_model: TurnModel | None = None,
        skills: Skills | None = None,
    ) -> None:
        self._stages = Stages(stt, chat, tts, skills)
        self._workers = Workers(options.stage_limits)
        self._sink = sink
        self.options = options
        self._on_event = on_event
        self.history: list[ChatMessage] = list(history or [])
        endpointing = options.endpointing
        if turn_model is None:  # no end-of-turn model: the fixed silence ends each turn
            endpointing = replace(endpointing, turn_check_ms=0)
        self._judge = TurnJudge(turn_model, endpointing.turn_words_wait_ms) if turn_model else None
        self._hearing = Hearing(vad, endpointing)
        self._judging: asyncio.Task | None = None  # the end-of-turn model's current question
        self._guard = BargeInGuard(options.barge_in_settings())
        self._wake = WakeGate(wake_word, options.follow_up_s) if wake_word is not None else None
        self._turn = TurnState.WAITING if self._wake else TurnState.LISTENING
        self._paused = self._muted = False
        self._shown = self.state
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task | None = None
        self._held_at: float | None = None  # playback held for possible barge-in since (monotonic)
        self._unanswered = ""  # user speech whose reply was cut off by more user speech
        self._announcements = AnnouncementQueue()  # said unprompted once the turn is free
        self._asleep_reply: Reply | None = None  # an announcement said waiting for the wake word
        self._closed = False

    # --- state -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return shown(self._turn, paused=self._paused, muted=self._muted)

    @property
    def turn_state(self) -> TurnState:
        return self._turn

    @property
    def busy(self) -> bool:
        """A reply is under way (including one begun at a pause, not yet known to be needed)."""
        return self._reply_task is not None and not self._reply_task.done()

    @property
    def wake_phrase(self) -> str:
        """The wake word listened for ("": none, every turn is heard)."""
        return self._wake.phrase if self._wake else ""

    @property
    def muted(self) -> bool:
        return self._muted

    def _enter(self, turn: TurnState) -> None:
        """The one place where the turn-taking state changes."""
        if turn != self._turn:
            if turn not in TRANSITIONS[self._turn]:
                raise RuntimeError(f"no transition from {self._turn} to {turn}")
            self._turn = turn
        self._announce()

    def _announce(self) -> None:
        if self.state != self._shown:
            self._shown = self.state
            self._on_event(StateChanged(self._shown))

    # --- controls --------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold everything: playback stops where it is, the microphone is not heard."""
        self._paused = True
        self._sink.set_paused(True)
        self._hearing.reset()
        self._drop_speculation()
        self._announce()

    def resume(self) -> None:
        self._paused = False
        self._guard.reset()
        if self._held_at is not None:
            self._held_at = None
            self._enter(TurnState.SPEAKING)
        self._sink.set_paused(False)
        self._announce()

    def mute(self) -> None:
        """Stop hearing the microphone; a reply already under way is still spoken."""
        self._muted = True
        self._hearing.reset()
        self._drop_speculation()
        self._guard.reset()
        self._release_hold()  # nothing more is heard that could confirm an interruption
        self._announce()

    def unmute(self) -> None:
        self._muted = False
        self._announce()

    def change(self, **options: Any) -> None:
        """Options from the next sentence or turn on, such as voice="...", language="zh"."""
        self.options = replace(self.options, **options)

    def set_wake_word(self, detector: WakeWordDetector | None) -> None:
        """From the next turn: wait for this wake word (None: hear every turn); with nobody
        speaking or answered, the change shows at once (waiting, or listening)."""
        self._wake = WakeGate(detector, self.options.follow_up_s) if detector else None
        if self._turn in FREE and not (self.busy or self._hearing.in_speech):
            self._enter(TurnState.WAITING if self._wake else TurnState.LISTENING)

    def interrupt(self) -> None:
        """Stop speaking now and cancel the reply; what was heard stays in the history."""
        if self._drop_speculation():
            return
        if self.busy:
            self._stop_playback()
            assert self._reply_task is not None
            self._reply_task.cancel()

    def new_conversation(self) -> None:
        self.interrupt()
        self._unanswered = ""
        self.history = [m for m in self.history if m.role == "system"]
        self._on_event(ConversationReset())

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        if self._reply_task:
            self.interrupt()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reply_task
        self._workers.shutdown()
        if self._judging is not None:
            self._judging.cancel()
        if self._judge is not None:
            self._judge.close()

    async def wait_idle(self) -> None:
        """Wait until no reply is under way, nor the model's work after one (its read-ahead)."""
        while self._reply_task and not self._reply_task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reply_task)
        await self._workers.drained("llm")

    # --- hearing ---------------------------------------------------------------------------

    def feed(self, audio: AudioChunk, over_echo: bool = False) -> None:
        """Microphone audio, in order, at any rate. Runs VAD and endpointing on the loop.
        `over_echo`: the echo canceller heard the user speak over the speaker's echo in it."""
        if self._paused or self._muted or (audio := self._through_wake_gate(audio)) is None:
            return
        for frame in self._hearing.feed(audio, over_echo):
            for event in frame.events:
                self._on_speech(event)
            self._check_barge_in(frame)
        if self._announcements:  # one waiting for the user's speech to end
            self._announce_next()

    def _through_wake_gate(self, audio: AudioChunk) -> AudioChunk | None:
        """With a wake word, what `WakeGate.admit` lets through (the chime plays when the word
        is heard). Nothing while an announcement is said asleep: the room is not a turn."""
        if self._wake is None:
            return audio
        announcing = self._reply is not None and self._reply is self._asleep_reply
        idle = not (self.busy or self._hearing.in_speech)
        heard, turn, woke = self._wake.admit(audio, self._turn, idle=idle, announcing=announcing)
        if woke:
            self._sink.play(earcon())
            self._hearing.reset()
        self._enter(turn)
        return heard

    def _on_speech(self, event: SpeechEvent) -> None:
        if isinstance(event, SpeechStarted):
            if self._turn == TurnState.THINKING:  # the user goes on talking: answer it all later
                self._abandon_reply()
        elif isinstance(event, SpeechPaused):
            self._speculate(event)
        elif isinstance(event, SpeechResumed):
            self._drop_speculation()  # the user goes on: what was begun is thrown away
        elif isinstance(event, TurnCheck):
            self._check_turn(event)
        elif isinstance(event, SpeechEnded) and self._turn not in (
            TurnState.SPEAKING,
            TurnState.HELD,  # heard over our own voice, not enough to barge in: no turn
        ):
            speech_end = self._hearing.monotonic(event.speech_end)
            endpoint = self._hearing.monotonic(event.endpoint_at)
            if not self._confirm_speculation(event.audio, speech_end, endpoint):
                timings = TurnTimings(speech_end=speech_end, endpoint=endpoint)
                self._start_reply(event.audio, timings)

    def _check_turn(self, check: TurnCheck) -> None:
        """Ask the end-of-turn model on its thread; its answer may end the turn. Not over our own
        voice (no turn is taken there), so as not to take the cores from the reply."""
        if self._judge is None or self._turn in (TurnState.SPEAKING, TurnState.HELD):
            return
        judge = self._judge

        async def judged() -> None:
            complete = await judge.complete(check.audio)
            heard = await judge.words(lambda: self._reply, complete)
            if not (self._paused or self._muted):
                for event in self._hearing.decide(check, complete, heard):
                    self._on_speech(event)

        self._judging = asyncio.get_running_loop().create_task(judged())

    def _speculate(self, event: SpeechPaused) -> None:
        """A short pause: begin the reply now (transcribe, think, synthesize the first words)
        but say and play nothing until the endpoint confirms that the turn is over."""
        if self._turn != TurnState.LISTENING or self.busy:
            return
        timings = TurnTimings(
            speech_end=self._hearing.monotonic(event.speech_end), speculated=time.monotonic()
        )
        self._start_reply(event.audio, timings, speculative=True)

    def _confirm_speculation(self, audio: AudioChunk, speech_end: float, endpoint: float) -> bool:
        """The endpoint came with no speech since the pause: the reply begun then is the one."""
        reply = self._reply
        if reply is None or reply.confirmed or not self.busy:
            return False
        self._enter(TurnState.THINKING)
        reply.confirm(speech_end, endpoint, audio)
        return True

    def _drop_speculation(self) -> bool:
        """Cancel a reply begun at a pause and not yet confirmed; True if there was one."""
        reply = self._reply
        if reply is None or reply.confirmed or not self.busy:
            return False
        assert self._reply_task is not None
        self._reply_task.cancel()
        return True

    def _abandon_reply(self) -> None:
        """The user goes on talking before hearing a reply: answer everything together later."""
        reply = self._reply
        if self.busy and reply is not None and not reply.has_played and reply.abandon():
            assert self._reply_task is not None
            self._reply_task.cancel()

    def _check_barge_in(self, frame: Frame) -> None:
        speaking = self._turn in (TurnState.SPEAKING, TurnState.HELD)
        heard = frame.probability, frame.seconds, speaking, frame.start, frame.over_echo
        for action in self._guard.push(*heard):
            if action == BargeIn.RELEASE:
                self._release_hold()
            elif action == BargeIn.HOLD:
                self._hold()
            elif action == BargeIn.INTERRUPT and self._reply is not None:
                self._reply.note(barge_in_onset=self._guard.onset or time.monotonic())
                self.interrupt()

    def _hold(self) -> None:
        if self._held_at is None and not self._paused:
            self._held_at = time.monotonic()
            self._sink.set_paused(True)
            if isinstance(self._sink, EchoingSink):
                self._guard.echo_lasts(self._sink.echo_tail_s())
            self._enter(TurnState.HELD)

    def _release_hold(self) -> None:
        """Playback goes on (after a hold for speech that did not last)."""
        if self._held_at is not None:
            self._held_at = None
            if not self._paused:
                self._sink.set_paused(False)
            if self._turn == TurnState.HELD:
                self._enter(TurnState.SPEAKING)

    def _stop_playback(self) -> None:
        stopped = self._held_at or time.monotonic()
        if self._reply is not None:
            self._reply.stop_playback(stopped)
        else:
            self._sink.clear()
        self._release_hold()  # the queue is empty: the next reply plays at once

    # --- replies ---------------------------------------------------------------------------

    def announce(self, text: str) -> None:
        """Say `text` unprompted (a timer rang): at once when nobody has the turn (waiting for
        the wake word too), else after the reply under way, or after the user's turn and its
        answer."""
        self._announcements.add(text)
        self._on_event(Announced(text))
        self._announce_next()

    def _announce_next(self) -> None:
        in_speech, asleep = self._hearing.in_speech, self._turn == TurnState.WAITING
        said = self._announcements.next_due(self._turn, busy=self.busy, in_speech=in_speech)
        if said is not None:
            now = time.monotonic()
            self._start_reply(said, TurnTimings(speech_end=now, endpoint=now))
            self._asleep_reply = self._reply if asleep else None

    def submit_text(self, text: str) -> None:
        """A typed turn (no microphone): answered aloud like a spoken one."""
        if text.strip():
            now = time.monotonic()
            self._start_reply(text.strip(), TurnTimings(speech_end=now, endpoint=now))

    def _start_reply(
        self, said: AudioChunk | str | Announcement, timings: TurnTimings, *, speculative=False
    ) -> None:
        if self.busy:
            self.interrupt()
        reply = Reply(
            self._stages, self._workers, said,
            history=self.history, sink=self._sink, settings=self.options.reply_settings(),
            timings=timings, earlier=self._unanswered, confirmed=not speculative,
            on_event=lambda event: self._on_reply_event(this_reply(), event),
        )  # fmt: skip
        # weak: a callback holding its reply is a cycle, keeping its audio until a full collection
        this_reply = weakref.ref(reply)
        self._reply = reply
        self._enter(TurnState.SPECULATING if speculative else TurnState.THINKING)
        self._reply_task = asyncio.get_running_loop().create_task(self._drive(reply))

    def _on_reply_event(self, reply: Reply | None, event: ConversationEvent) -> None:
        if (
            isinstance(event, AssistantSaying)
            and reply is self._reply
            and self._turn == TurnState.THINKING
        ):
            self._enter(TurnState.SPEAKING)
        self._on_event(event)

    async def _drive(self, reply: Reply) -> None:
        """Run one reply; afterwards the history holds what was said and heard."""
        try:
            await reply.run()
        finally:
            if reply.remember_in(self.history):
                self._unanswered = ""
            elif reply.announced:  # heard, but its answer was cut off by more speech
                self._unanswered = reply.user_text
            if self._reply is reply:
                self._reply = None
                if not self.options.barge_in and self._turn == TurnState.SPEAKING:
                    self._hearing.reset()  # what was heard over our voice is not a turn
                self._release_hold()
                asleep = self._wake and reply is self._asleep_reply and not self._wake.awake
                self._enter(TurnState.WAITING if asleep else TurnState.LISTENING)
                if self._wake and not asleep:  # the follow-up window opens
                    self._wake.replied()
                self._announce_next()
