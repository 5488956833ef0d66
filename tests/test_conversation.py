"""The conversation engine's logic with scripted fakes: turn-taking, barge-in, pause, mute.

The fakes stand in for the engines only where timing must be controlled (cancellation while
the model is writing, speech at a chosen moment of playback); tests/test_talk.py runs the real
models through real audio devices.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from assistant.conversation.barge_in import BargeIn, BargeInGuard, BargeInSettings
from assistant.conversation.endpointing import EndpointSettings
from assistant.conversation.engine import TRANSITIONS, Conversation, TurnState
from assistant.conversation.events import (
    AssistantSaying,
    Notice,
    State,
    StateChanged,
    TurnEnded,
    UserSaid,
)
from assistant.conversation.options import ConversationOptions
from assistant.conversation.played import heard_words
from assistant.providers import TranscriptionStopped
from assistant.types import AudioChunk, ChatMessage, Transcription, Voice

RATE = 16000
LOUD, ECHO, QUIET = 8000, 1200, 0
CHUNK_S = 0.02


class LoudnessVAD:
    """Speech probability from loudness: loud is speech, medium is an echo-like murmur."""

    frame_samples = 512
    sample_rate = RATE

    def __call__(self, frame: np.ndarray) -> float:
        peak = float(np.abs(frame).max()) * 32768
        return 0.95 if peak >= LOUD * 0.9 else 0.6 if peak >= ECHO * 0.9 else 0.02

    def reset(self) -> None:
        pass


class ScriptedSTT:
    def __init__(self, *texts: str, delay: float = 0.05, fail: bool = False) -> None:
        self.texts = list(texts)
        self.delay, self.fail = delay, fail
        self.calls = 0

    def transcribe(self, audio, *, language=None, prompt=None, temperature=None) -> Transcription:
        self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the STT engine crashed")
        return Transcription(self.texts.pop(0) if self.texts else "", "en", audio.seconds)


class ScriptedChat:
    """Writes the scripted reply a word at a time, `delay` seconds per word."""

    def __init__(self, reply: str, delay: float = 0.01) -> None:
        self.reply, self.delay = reply, delay
        self.requests: list[list[ChatMessage]] = []
        self.produced = 0
        self.closed = False

    def stream_chat(
        self, messages, *, max_tokens=None, temperature=None, stop=None
    ) -> Iterator[str]:
        self.requests.append(list(messages))
        return self._stream()

    def _stream(self) -> Iterator[str]:
        try:
            for word in self.reply.split(" "):
                time.sleep(self.delay)
                self.produced += 1
                yield word + " "
        finally:
            self.closed = True


class WordTTS:
    """0.1 s of audio per word, one chunk per sentence."""

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def voices(self) -> list[Voice]:
        return [Voice("test", "en", RATE)]

    def synthesize(self, text, *, voice=None, speed=1.0, instructions=None) -> Iterator[AudioChunk]:
        self.spoken.append(text)
        yield AudioChunk(bytes(2 * int(RATE * 0.1 * len(text.split()))), RATE)


class ClockSink:
    """Plays in real time: what is queued drains as the clock runs (like a speaker)."""

    def __init__(self) -> None:
        self.end: float | None = None  # monotonic time the queue runs dry
        self.held: float | None = None  # pending seconds while paused
        self.cleared = 0
        self.played_chunks = 0

    def play(self, chunk: AudioChunk) -> None:
        now = time.monotonic()
        if self.held is not None:
            self.held += chunk.seconds
        else:
            self.end = max(self.end or now, now) + chunk.seconds
        self.played_chunks += 1

    def clear(self) -> None:
        self.end, self.cleared = None, self.cleared + 1
        self.held = 0.0 if self.held is not None else None

    def pending_seconds(self) -> float:
        if self.held is not None:
            return self.held
        return max(0.0, (self.end or 0) - time.monotonic())

    def set_paused(self, paused: bool) -> None:
        if paused and self.held is None:
            self.held = self.pending_seconds()
        elif not paused and self.held is not None:
            self.end, self.held = time.monotonic() + self.held, None


OPTIONS = ConversationOptions(
    system_prompt="Be brief.",
    barge_in_ms=150,
    endpointing=EndpointSettings(min_speech_ms=96, silence_ms=200, pre_roll_ms=100),
)


class Harness:
    def __init__(
        self, stt, chat, tts=None, sink=None, options: ConversationOptions = OPTIONS,
        turn_model=None,
    ):  # fmt: skip
        self.events: list = []
        self.stt, self.chat, self.tts, self.sink = stt, chat, tts or WordTTS(), sink or ClockSink()
        self.conversation = Conversation(
            self.stt,
            self.chat,
            self.tts,
            LoudnessVAD(),
            self.sink,
            options,
            on_event=self.events.append,
            history=[ChatMessage("system", options.system_prompt)],
            turn_model=turn_model,
        )

    async def sound(self, seconds: float, level: int, over_echo: bool = False) -> None:
        """Feed `seconds` of audio at `level`, in real time, 20 ms at a time (`over_echo`: as an
        echo canceller that heard the user over the speaker's echo in it)."""
        for _ in range(round(seconds / CHUNK_S)):
            samples = np.full(int(RATE * CHUNK_S), level, dtype="<i2")
            self.conversation.feed(AudioChunk(samples.tobytes(), RATE), over_echo)
            await asyncio.sleep(CHUNK_S)

    async def say(self, seconds: float = 0.4) -> None:
        await self.sound(seconds, LOUD)
        await self.sound(0.3, QUIET)

    async def until(self, predicate, timeout: float = 10.0) -> None:
        """Keep the microphone running (silence) until `predicate()` holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; events: {self.events}"
            await self.sound(CHUNK_S, QUIET)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def states(self) -> list[State]:
        return [e.state for e in self.of(StateChanged)]


def run(coroutine) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 30))


def test_a_turn_is_heard_answered_and_kept_in_history():
    async def scenario():
        h = Harness(
            ScriptedSTT("What is the capital of France?"), ScriptedChat("Paris. It is in France.")
        )
        await h.say()
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        [turn] = h.of(TurnEnded)
        assert [e.text for e in h.of(UserSaid)] == ["What is the capital of France?"]
        assert h.of(UserSaid)[0].audio.seconds > 0.3 and h.of(UserSaid)[0].ended_at > 0
        assert [e.text for e in h.of(AssistantSaying)] == ["Paris.", "It is in France."]
        assert turn.spoken == turn.generated == "Paris. It is in France."
        assert not turn.interrupted
        assert h.states() == [State.THINKING, State.SPEAKING, State.LISTENING]
        assert h.conversation.history == [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "What is the capital of France?"),
            ChatMessage("assistant", "Paris. It is in France."),
        ]
        assert h.chat.requests[0][0] == ChatMessage("system", "Be brief.")
        t = turn.timings
        assert (
            t.speech_end
            < t.endpoint
            < t.transcript
            < t.first_token
            < t.first_sentence
            < t.first_audio
            < t.done
        )
        assert set(t.latencies_ms()) == {
            "endpoint",
            "transcript",
            "first_token",
            "first_sentence",
            "first_audio",
            "done",
        }
        assert 150 <= t.latencies_ms()["endpoint"] <= 400  # silence_ms 200, in 32 ms frames

    run(scenario())


def test_a_finished_reply_is_freed_at_once_not_by_a_full_collection():
    """A reply (and the audio it holds) is freed when the next one replaces it, by reference
    counting: no cycle keeps it until Python's occasional full collection (the soak saw the C
    heap grow by ~1 MB a turn between collections)."""

    async def scenario():
        h = Harness(ScriptedSTT("Hello there.", "And again."), ScriptedChat("Hi. Nice day."))
        await h.say()
        await h.until(lambda: h.conversation._reply is not None)
        first = weakref.ref(h.conversation._reply)
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        await h.say()
        await h.until(lambda: len(h.of(TurnEnded)) == 2 and h.conversation.state == State.LISTENING)
        assert first() is None

    gc.disable()
    try:
        run(scenario())
    finally:
        gc.enable()


LONG_REPLY = " ".join(f"Sentence number {n} is here with several more words." for n in range(1, 30))


def test_barge_in_stops_playback_closes_the_model_and_keeps_only_what_was_heard():
    async def scenario():
        h = Harness(ScriptedSTT("Tell me a story.", "Stop."), ScriptedChat(LONG_REPLY, delay=0.03))
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.5, QUIET)  # about half a second of the reply is heard
        await h.sound(0.4, LOUD)  # the user talks over it
        await h.until(lambda: h.of(TurnEnded))
        [turn] = h.of(TurnEnded)
        assert turn.interrupted
        assert h.sink.cleared >= 1 and h.sink.pending_seconds() == 0
        await h.until(lambda: h.chat.closed)
        assert h.chat.produced < len(LONG_REPLY.split())  # decoding stopped early
        heard = turn.spoken.split()
        assert 3 <= len(heard) <= 15  # ~0.6-1.0 s of speech at 0.1 s a word
        assert LONG_REPLY.startswith(turn.spoken)
        assert len(turn.generated) > len(turn.spoken)
        assert h.conversation.history[-1] == ChatMessage("assistant", turn.spoken)
        assert 150 <= turn.timings.latencies_ms()["barge_in"] <= 400  # barge_in_ms is 150
        # the interrupting speech becomes the next turn
        await h.until(lambda: len(h.of(UserSaid)) == 2)
        assert h.of(UserSaid)[1].text == "Stop."

    run(scenario())


def test_an_echo_of_our_own_voice_does_not_interrupt():
    async def scenario():
        h = Harness(ScriptedSTT("Hello."), ScriptedChat("One two three four five six seven eight."))
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.6, ECHO)  # speech-like but well under the barge-in threshold
        await h.until(lambda: h.of(TurnEnded))
        assert not h.of(TurnEnded)[0].interrupted
        assert h.sink.cleared == 0

    run(scenario())


def test_barge_in_off_keeps_talking_and_ignores_speech_over_it():
    async def scenario():
        options = ConversationOptions(**{**OPTIONS.__dict__, "barge_in": False})
        h = Harness(
            ScriptedSTT("Hello.", "ignored"),
            ScriptedChat("One two three four five six."),
            options=options,
        )
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.4, LOUD)
        await h.until(lambda: h.of(TurnEnded))
        await h.sound(0.5, QUIET)
        assert not h.of(TurnEnded)[0].interrupted
        assert h.stt.calls == 1  # the speech over the reply was not taken as a turn

    run(scenario())


def test_more_speech_while_thinking_is_answered_together():
    async def scenario():
        # the model is slow to start, so thinking lasts: the transcription may be done already
        # (begun at the pause), and the user must be heard going on before any reply plays
        h = Harness(ScriptedSTT("What is", "the time?", delay=0.3), ScriptedChat("Noon.", delay=1))
        await h.say()
        await h.until(lambda: h.conversation.state == State.THINKING)
        await h.say()  # the user goes on before any reply is heard
        await h.until(lambda: h.of(TurnEnded))
        [turn] = h.of(TurnEnded)
        assert turn.user == "What is the time?"
        assert h.chat.requests[-1][-1] == ChatMessage("user", "What is the time?")
        assert [m.role for m in h.conversation.history] == ["system", "user", "assistant"]

    run(scenario())


def test_the_stop_key_interrupts_and_keeps_the_turn():
    async def scenario():
        h = Harness(ScriptedSTT("Story please."), ScriptedChat(LONG_REPLY))
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        h.conversation.interrupt()
        await h.until(lambda: h.of(TurnEnded))
        assert h.of(TurnEnded)[0].interrupted
        assert h.conversation.history[1] == ChatMessage("user", "Story please.")
        await h.until(lambda: h.conversation.state == State.LISTENING)

    run(scenario())


def test_pause_holds_playback_and_the_microphone_until_resumed():
    async def scenario():
        h = Harness(ScriptedSTT("Hi.", "never heard"), ScriptedChat("One two three four five six."))
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        h.conversation.pause()
        assert h.conversation.state == State.PAUSED
        held = h.sink.pending_seconds()
        await h.say()  # not heard while paused
        assert h.sink.pending_seconds() == pytest.approx(held)
        assert not h.of(TurnEnded)
        h.conversation.resume()
        await h.until(lambda: h.of(TurnEnded))
        assert not h.of(TurnEnded)[0].interrupted and h.stt.calls == 1
        assert State.PAUSED in h.states()

    run(scenario())


def test_mute_stops_hearing_until_unmuted():
    async def scenario():
        h = Harness(ScriptedSTT("Now you hear me."), ScriptedChat("Yes."))
        h.conversation.mute()
        assert h.conversation.state == State.MUTED
        await h.say()
        await h.sound(0.3, QUIET)
        assert h.stt.calls == 0
        h.conversation.unmute()
        await h.say()
        await h.until(lambda: h.of(TurnEnded))
        assert h.of(TurnEnded)[0].user == "Now you hear me."

    run(scenario())


def test_new_conversation_forgets_the_history():
    async def scenario():
        h = Harness(
            ScriptedSTT("Remember the number seven.", "Which number?"), ScriptedChat("Okay.")
        )
        await h.say()
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        h.conversation.new_conversation()
        assert h.conversation.history == [ChatMessage("system", "Be brief.")]
        await h.say()
        await h.until(lambda: len(h.of(TurnEnded)) == 2)
        assert h.chat.requests[-1] == [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Which number?"),
        ]

    run(scenario())


def test_an_engine_failure_is_reported_and_the_conversation_goes_on():
    async def scenario():
        h = Harness(ScriptedSTT(fail=True), ScriptedChat("Fine."))
        await h.say()
        await h.until(lambda: h.of(Notice) and h.conversation.state == State.LISTENING)
        assert "the STT engine crashed" in h.of(Notice)[0].message
        h.stt.fail, h.stt.texts = False, ["Are you there?"]
        await h.say()
        await h.until(lambda: h.of(TurnEnded))

    run(scenario())


def test_silence_after_noise_is_not_a_turn():
    async def scenario():
        h = Harness(ScriptedSTT(""), ScriptedChat("never"))
        await h.say()
        await h.sound(0.5, QUIET)
        assert h.stt.calls == 1 and h.chat.requests == []
        assert h.conversation.state == State.LISTENING

    run(scenario())


def test_what_was_heard_is_cut_in_proportion():
    chunks = [("one two three four", 0.0, 1.0), ("five six", 1.0, 2.0)]
    assert heard_words(chunks, 2.0) == "one two three four five six"
    assert heard_words(chunks, 1.5) == "one two three four five"
    assert heard_words(chunks, 0.5) == "one two"
    assert heard_words(chunks, 0.0) == ""


SPECULATING = ConversationOptions(
    system_prompt="Be brief.",
    barge_in_ms=300,
    barge_in_hold_ms=64,
    endpointing=EndpointSettings(min_speech_ms=96, silence_ms=300, pre_roll_ms=100, pause_ms=64),
)


class PausesSink(ClockSink):
    """A ClockSink that also notes each pause and resume."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[bool] = []

    def set_paused(self, paused: bool) -> None:
        self.pauses.append(paused)
        super().set_paused(paused)


def test_a_reply_begun_at_a_short_pause_is_played_only_once_the_turn_ends():
    async def scenario():
        h = Harness(ScriptedSTT("What is the capital of France?"), ScriptedChat("Paris."),
                    options=SPECULATING)  # fmt: skip
        await h.sound(0.4, LOUD)
        await h.until(lambda: h.stt.calls == 1)  # begun at the pause...
        assert not h.of(UserSaid) and h.sink.played_chunks == 0  # ...but nothing said yet
        assert h.conversation.state == State.LISTENING
        assert h.conversation.turn_state == TurnState.SPECULATING
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        [turn] = h.of(TurnEnded)
        assert h.stt.calls == 1 and len(h.chat.requests) == 1  # the early work was used
        assert [e.text for e in h.of(UserSaid)] == ["What is the capital of France?"]
        assert turn.spoken == "Paris." and not turn.interrupted
        assert h.states() == [State.THINKING, State.SPEAKING, State.LISTENING]
        t = turn.timings
        assert t.speech_end < t.speculated < t.transcript < t.endpoint < t.first_audio
        assert t.first_audio - t.endpoint < 0.1  # the reply was ready: it plays at the endpoint
        assert h.conversation.history[1:] == [
            ChatMessage("user", "What is the capital of France?"),
            ChatMessage("assistant", "Paris."),
        ]

    run(scenario())


def test_a_reply_begun_at_a_pause_is_dropped_when_the_user_goes_on():
    async def scenario():
        h = Harness(ScriptedSTT("What is", "What is the time?"), ScriptedChat("Noon."),
                    options=SPECULATING)  # fmt: skip
        await h.sound(0.4, LOUD)
        await h.sound(0.15, QUIET)  # a pause: longer than pause_ms, shorter than silence_ms
        assert h.stt.calls == 1
        await h.say()  # ...and the user goes on
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        [turn] = h.of(TurnEnded)
        assert turn.user == "What is the time?"
        assert [e.text for e in h.of(UserSaid)] == ["What is the time?"]
        assert [e.text for e in h.of(AssistantSaying)] == ["Noon."]
        assert h.chat.requests[-1][-1] == ChatMessage("user", "What is the time?")
        assert [m.role for m in h.conversation.history] == ["system", "user", "assistant"]
        assert h.states() == [State.THINKING, State.SPEAKING, State.LISTENING]

    run(scenario())


class StoppableSTT:
    """A transcription of `steps` * 50 ms that looks at `stopped()` between steps, as Whisper's
    encoding and decoding do (providers.TurnSpeechToText); notes each call's start, end and
    whether it was given up."""

    def __init__(self, *texts: str, steps: int = 12) -> None:
        self.texts, self.steps = list(texts), steps
        self.runs: list[tuple[float, float, bool]] = []  # start, end, given up

    def transcribe(self, audio, *, language=None, prompt=None, temperature=None) -> Transcription:
        return self.transcribe_turn(audio, lambda: False, language=language)

    def transcribe_turn(self, audio, stopped, *, language=None) -> Transcription:
        start = time.monotonic()
        text = self.texts.pop(0) if self.texts else ""
        for _ in range(self.steps):
            if stopped():
                self.runs.append((start, time.monotonic(), True))
                raise TranscriptionStopped
            time.sleep(0.05)
        self.runs.append((start, time.monotonic(), False))
        return Transcription(text, "en", audio.seconds)


@pytest.mark.parametrize("stop", [True, False])
def test_a_dropped_replys_transcription_stops_so_the_next_one_starts_at_once(stop):
    async def scenario():
        stt = StoppableSTT("What is", "What is the time?")  # 0.6 s each, unless given up
        options = replace(SPECULATING, live_transcription=stop)
        h = Harness(stt, ScriptedChat("Noon."), options=options)
        await h.sound(0.4, LOUD)
        await h.sound(0.15, QUIET)  # a pause: a reply is begun, its transcription starts...
        resumed = time.monotonic()
        await h.sound(0.2, LOUD)  # ...the user goes on: that reply is dropped
        await h.sound(0.5, QUIET)
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        [turn] = h.of(TurnEnded)
        assert turn.user == "What is the time?"
        (stale_start, stale_end, given_up), (start, _, useful_given_up) = stt.runs
        assert not useful_given_up and start >= stale_end  # one transcription at a time
        if stop:  # given up a step after the drop: the useful one need not wait for it
            assert given_up and stale_end - resumed < 0.2 and start < stale_start + 0.6
        else:  # the old way: the stale one runs its whole 0.6 s and the useful one waits
            assert not given_up and stale_end - stale_start >= 0.6

    run(scenario())


def test_muting_during_a_pause_drops_the_reply_begun_there():
    async def scenario():
        h = Harness(ScriptedSTT("Hello.", delay=0.2), ScriptedChat("Hi."), options=SPECULATING)
        await h.sound(0.4, LOUD)
        await h.sound(0.1, QUIET)
        h.conversation.mute()
        await asyncio.sleep(0.5)
        h.conversation.unmute()
        await h.sound(0.5, QUIET)
        assert not h.of(UserSaid) and not h.of(TurnEnded) and h.sink.played_chunks == 0
        assert h.chat.requests == []

    run(scenario())


def test_a_short_sound_over_the_reply_holds_playback_then_lets_it_go_on():
    async def scenario():
        h = Harness(ScriptedSTT("Count."), ScriptedChat("One two three four five six seven."),
                    sink=PausesSink(), options=SPECULATING)  # fmt: skip
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.04, LOUD)  # not yet barge_in_hold_ms
        assert h.conversation.turn_state == TurnState.SPEAKING
        await h.sound(0.08, LOUD)  # longer than barge_in_hold_ms, shorter than barge_in_ms
        assert h.conversation.turn_state == TurnState.HELD
        assert h.conversation.state == State.SPEAKING  # the user is shown it is still speaking
        await h.until(lambda: h.of(TurnEnded))
        [turn] = h.of(TurnEnded)
        assert h.sink.pauses == [True, False]  # held, then let go
        assert not turn.interrupted and h.sink.cleared == 0
        assert turn.spoken == "One two three four five six seven."

    run(scenario())


def test_with_a_hold_barge_in_silences_playback_well_before_barge_in_ms():
    async def scenario():
        h = Harness(ScriptedSTT("Tell me a story.", "Stop."), ScriptedChat(LONG_REPLY),
                    sink=PausesSink(), options=SPECULATING)  # fmt: skip
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.5, LOUD)
        await h.until(lambda: h.of(TurnEnded))
        [turn] = h.of(TurnEnded)
        assert turn.interrupted and h.sink.cleared == 1
        assert h.sink.pauses[:2] == [True, False]  # held, then let go once the queue was flushed
        # held after ~64 ms of speech, well before the 300 ms interruption
        assert 0 < turn.timings.latencies_ms()["barge_in"] <= 200
        await h.until(lambda: len(h.of(UserSaid)) == 2)  # the interruption is the next turn
        await h.until(lambda: len(h.of(AssistantSaying)) > 1)  # and its reply is heard
        assert h.sink.pending_seconds() > 0

    run(scenario())


class EchoingRoomSink(PausesSink):
    """A speaker whose sound comes back into the microphone for `tail_s` after a hold (what the
    device still holds and the room's delay: the live test rig's ~0.3 s)."""

    def __init__(self, tail_s: float) -> None:
        super().__init__()
        self.tail_s = tail_s

    def echo_tail_s(self) -> float:
        return self.tail_s


@pytest.mark.parametrize("echo_tail_s,interrupted", [(0.32, False), (0.0, True)])
def test_held_playback_allows_for_the_echo_the_speaker_still_sends_back(echo_tail_s, interrupted):
    """Cancelled echo, hold at 64 ms: 0.5 s of speech-like echo after the hold outlasts the fixed
    300 ms allowance but not the speaker's own echo tail (0.32 s + 0.2 s of room), so the reply
    goes on; where the speaker's sound comes straight back, the same sound interrupts it."""

    async def scenario():
        h = Harness(ScriptedSTT("Tell me a story.", "Stop."), ScriptedChat(LONG_REPLY),
                    sink=EchoingRoomSink(echo_tail_s),
                    options=SPECULATING.echo_cancelled())  # fmt: skip
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.56, LOUD)
        await h.sound(0.5, QUIET)
        assert (h.sink.cleared == 1) == interrupted
        assert h.sink.pauses[:2] == [True, False]  # held, then let go

    run(scenario())


def test_muting_during_a_hold_lets_the_reply_go_on():
    async def scenario():
        h = Harness(ScriptedSTT("Count."), ScriptedChat("One two three four five six seven."),
                    sink=PausesSink(), options=SPECULATING)  # fmt: skip
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.1, LOUD)  # held...
        assert h.sink.pauses == [True]
        h.conversation.mute()  # ...and nothing more will be heard
        assert h.sink.pauses == [True, False]
        await h.until(lambda: h.of(TurnEnded))
        assert not h.of(TurnEnded)[0].interrupted

    run(scenario())


def test_every_turn_state_can_be_left_and_the_table_is_enforced():
    assert set(TRANSITIONS) == set(TurnState)
    reachable = {TurnState.LISTENING}
    for _ in TurnState:
        reachable |= {target for state in reachable for target in TRANSITIONS[state]}
    assert reachable == set(TurnState)
    assert all(TurnState.LISTENING in TRANSITIONS[s] for s in TurnState if s != TurnState.LISTENING)
    h = Harness(ScriptedSTT(), ScriptedChat(""))
    with pytest.raises(RuntimeError, match="no transition from listening to speaking"):
        h.conversation._enter(TurnState.SPEAKING)


def test_the_barge_in_guard_holds_then_interrupts_only_on_loud_speech_over_playback():
    frame = 0.032
    guard = BargeInGuard(BargeInSettings(interrupt_ms=160, threshold=0.8, hold_ms=64))
    assert guard.push(0.95, frame, speaking=False) == [BargeIn.RELEASE]  # not speaking: nothing
    assert guard.push(0.95, frame, speaking=True, start=7.0) == []
    assert guard.push(0.95, frame, speaking=True) == [BargeIn.HOLD]  # 64 ms
    assert guard.push(0.6, frame, speaking=True) == [BargeIn.RELEASE]  # an echo: let it go
    actions = [guard.push(0.95, frame, True, 8.0 + n * frame) for n in range(5)]
    assert actions[-1] == [BargeIn.HOLD, BargeIn.INTERRUPT]  # 160 ms of loud speech
    assert guard.heard_s == pytest.approx(5 * frame)
    assert guard.onset == 8.0  # the first frame of the speech that interrupted
    assert guard.push(0.95, frame, speaking=True) == []  # counting starts again after it
    off = BargeInGuard(BargeInSettings(enabled=False))
    assert all(off.push(0.99, frame, speaking=True) == [BargeIn.RELEASE] for _ in range(20))


class LengthTurnModel:
    """An end-of-turn model that finds a turn complete once it is `complete_s` long, answering
    after `delay` seconds (as the real one takes its time)."""

    def __init__(self, complete_s: float, delay: float = 0.05) -> None:
        self.complete_s, self.delay, self.asked = complete_s, delay, 0

    def probability(self, audio: AudioChunk) -> float:
        time.sleep(self.delay)
        self.asked += 1
        return 0.9 if audio.seconds >= self.complete_s else 0.1


SMART = replace(
    SPECULATING,
    endpointing=replace(SPECULATING.endpointing, turn_check_ms=96, turn_max_ms=1000),
)


def test_smart_end_of_turn_complete_ends_the_turn_before_the_fixed_silence():
    async def scenario():
        model = LengthTurnModel(0.0)
        h = Harness(ScriptedSTT("Book a table."), ScriptedChat("Done."), options=SMART,
                    turn_model=model)  # fmt: skip
        await h.sound(0.4, LOUD)
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        [turn] = h.of(TurnEnded)
        assert model.asked == 1 and h.stt.calls == 1  # the reply begun at the pause was used
        t = turn.timings
        assert t.speech_end < t.speculated < t.endpoint
        assert t.endpoint - t.speech_end < 0.5  # far sooner than turn_max_ms (1 s)

    run(scenario())


def test_smart_end_of_turn_incomplete_waits_and_the_user_goes_on():
    async def scenario():
        model = LengthTurnModel(1.0)
        # words that could end there ("I'd like to" would settle it without the model)
        h = Harness(ScriptedSTT("Book a table", "Book a table for two."),
                    ScriptedChat("Done."), options=SMART, turn_model=model)  # fmt: skip
        await h.sound(0.4, LOUD)
        await h.sound(0.45, QUIET)  # a thinking pause: the model says "incomplete", twice
        assert not h.of(UserSaid) and model.asked >= 2
        await h.sound(0.4, LOUD)  # ...and the user goes on
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        assert [e.text for e in h.of(UserSaid)] == ["Book a table for two."]

    run(scenario())


def paused_turn(stt: ScriptedSTT, words_wait_ms: int, chat: ScriptedChat | None = None,
                complete_s: float = 0.0, **endpointing):  # fmt: skip
    """ "I'd like to" (0.4 s), a 0.6 s thinking pause, "book a table" (0.4 s), to a model that
    finds every turn complete (or those `complete_s` long); what the engine made of it."""

    async def scenario() -> Harness:
        settings = replace(SMART.endpointing, turn_text_max_ms=1500,
                           turn_words_wait_ms=words_wait_ms, **endpointing)  # fmt: skip
        options = replace(SMART, endpointing=settings)
        h = Harness(stt, chat or ScriptedChat("Done."), options=options,
                    turn_model=LengthTurnModel(complete_s))  # fmt: skip
        await h.sound(0.4, LOUD)
        await h.sound(0.6, QUIET)
        await h.sound(0.4, LOUD)
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        return h

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_smart_end_of_turn_words_that_lead_on_keep_the_turn_open_whatever_the_model_says():
    h = paused_turn(ScriptedSTT("I'd like to", "I'd like to book a table."), words_wait_ms=0)
    assert [e.text for e in h.of(UserSaid)] == ["I'd like to book a table."]


def test_smart_end_of_turn_never_waits_for_a_slow_transcript_unless_told_to():
    slow = ScriptedSTT("I'd like to", "book a table.", "I'd like to book a table.", delay=1.0)
    h = paused_turn(slow, words_wait_ms=0)  # the model's "complete" came first: it ended there
    assert h.of(UserSaid)[0].text == "I'd like to"
    slow = ScriptedSTT("I'd like to", "I'd like to book a table.", delay=1.0)
    h = paused_turn(slow, words_wait_ms=1000)  # "complete" waited for the words, which lead on
    assert [e.text for e in h.of(UserSaid)] == ["I'd like to book a table."]


class ReadingChat(ScriptedChat):
    """Also reads how likely the user's words end the turn (as llama.cpp does): `ends[words]`,
    after `read_delay` seconds."""

    def __init__(self, ends: dict[str, float], read_delay: float = 0.2) -> None:
        super().__init__("Done.")
        self.ends, self.read_delay, self.read = ends, read_delay, []

    def turn_end_probability(self, messages) -> float | None:
        time.sleep(self.read_delay)
        self.read.append(messages[-1].content)
        return self.ends.get(messages[-1].content)


def test_words_the_model_reads_as_going_on_keep_the_turn_open_and_are_waited_for():
    """ "How many?" has no word the lists know, and comes with "?": the model's reading (0.001,
    there 0.2 s after the transcript) keeps the turn open; without it the turn ends there."""
    ends = {"How many?": 0.001, "How many days are there?": 0.8}
    stt = ScriptedSTT("How many?", "How many days are there?")
    reading = ReadingChat(ends)
    h = paused_turn(stt, words_wait_ms=1000, chat=reading)
    assert [e.text for e in h.of(UserSaid)] == ["How many days are there?"]
    assert reading.read == ["How many?", "How many days are there?"]  # each pause's reply read
    stt = ScriptedSTT("How many?", "days are there?")
    unread = paused_turn(stt, 1000, ReadingChat(ends), turn_words_unfinished_below=0.0)
    assert unread.of(UserSaid)[0].text == "How many?"


def test_a_reading_that_fails_leaves_the_turn_to_the_other_rules_and_the_reply_goes_on():
    class FailingReading(ReadingChat):
        def turn_end_probability(self, messages) -> float | None:
            raise RuntimeError("llama.cpp could not decode")

    h = paused_turn(ScriptedSTT("How many?", "days are there?"), 1000, FailingReading({}))
    assert [e.text for e in h.of(UserSaid)][:1] == ["How many?"]  # as if unread: "?" ends it
    assert h.of(TurnEnded) and not any(isinstance(e, Notice) for e in h.events)


def test_words_the_model_reads_as_finished_end_the_turn_when_so_set():
    """A model that finds the turn incomplete waits turn_max_ms (1 s); words read as finished
    (0.8, over `turn_words_finished_above`) end it at the check after they are read."""

    async def scenario(above: float) -> float:
        settings = replace(SMART.endpointing, turn_words_finished_above=above)
        h = Harness(ScriptedSTT("Turn on the lights."), ReadingChat({"Turn on the lights.": 0.8}),
                    options=replace(SMART, endpointing=settings),
                    turn_model=LengthTurnModel(99))  # fmt: skip
        await h.sound(0.4, LOUD)
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        [turn] = h.of(TurnEnded)
        assert turn.user == "Turn on the lights."
        return turn.timings.endpoint - turn.timings.speech_end

    assert asyncio.run(scenario(0.3)) < 0.7  # read ~0.3 s after the end, then the next check
    assert asyncio.run(scenario(1.0)) > 0.9  # not set: the model's "incomplete" stands


def test_without_a_turn_model_the_fixed_silence_ends_the_turn():
    async def scenario():
        h = Harness(ScriptedSTT("Hello."), ScriptedChat("Hi."), options=SMART)
        await h.sound(0.4, LOUD)
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        t = h.of(TurnEnded)[0].timings
        silence = SMART.endpointing.silence_ms / 1000
        assert silence - 0.05 < t.endpoint - t.speech_end < silence + 0.15

    run(scenario())


def test_with_a_gap_allowance_short_quiet_gaps_do_not_reset_barge_in():
    frame = 0.032
    strict = BargeInGuard(BargeInSettings(threshold=0.5, interrupt_ms=160, hold_ms=64))
    bridged = BargeInGuard(BargeInSettings(threshold=0.5, interrupt_ms=160, hold_ms=64, gap_ms=96))
    bursts = [0.9, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9]  # speech, a 64 ms dip, speech
    strict_actions = [strict.push(p, frame, True) for p in bursts]
    bridged_actions = [bridged.push(p, frame, True) for p in bursts]
    assert not any(BargeIn.INTERRUPT in a for a in strict_actions)
    assert BargeIn.RELEASE in strict_actions[3]
    assert bridged_actions[3] == bridged_actions[4] == []  # the hold stays through the dip
    assert BargeIn.INTERRUPT in bridged_actions[6]  # 5 loud frames = 160 ms
    quiet = [bridged.push(0.1, frame, True) for _ in range(4)]
    assert BargeIn.RELEASE in quiet[-1]  # a gap longer than 96 ms ends it


def test_after_a_hold_speech_interrupts_only_once_it_outlasts_the_echo_tail():
    """What was played before the hold still echoes for a while: speech that stops within
    `echo_tail_ms` of the hold lets playback go on; speech that goes on past it interrupts."""
    frame = 0.032
    settings = BargeInSettings(threshold=0.5, interrupt_ms=160, hold_ms=64, echo_tail_ms=256)
    echo = BargeInGuard(settings)
    tail = [echo.push(0.9, frame, True) for _ in range(9)]  # 288 ms: the hold at 64 ms + 224 ms
    assert BargeIn.HOLD in tail[1] and not any(BargeIn.INTERRUPT in a for a in tail)
    assert echo.push(0.1, frame, True) == [BargeIn.RELEASE]  # the echo died away: play on
    user = BargeInGuard(settings)
    speech = [user.push(0.9, frame, True) for _ in range(10)]
    assert [BargeIn.INTERRUPT in a for a in speech].index(True) == 9  # 256 ms after the hold
    no_tail = BargeInGuard(replace(settings, echo_tail_ms=0))
    assert BargeIn.INTERRUPT in [no_tail.push(0.9, frame, True) for _ in range(5)][-1]


def test_the_cancellers_word_that_the_user_speaks_holds_playback_before_the_vad_hears_them():
    """Over an echo the canceller tells the user's voice from the echo ~75 ms before Silero hears
    it through the canceller: its word holds playback at once, for `over_echo_hold_ms` after its
    last word while the VAD catches up; only the VAD's speech interrupts."""
    frame = 0.032
    settings = BargeInSettings(
        threshold=0.5, interrupt_ms=160, hold_ms=64, gap_ms=96, over_echo_hold_ms=128
    )
    user = BargeInGuard(settings)
    assert user.push(0.1, frame, True, start=3.0, over_echo=True) == [BargeIn.HOLD]  # at once
    assert user.push(0.1, frame, True, over_echo=True) == [BargeIn.HOLD]
    speech = [user.push(0.9, frame, True) for _ in range(5)]  # the VAD hears them: 160 ms
    assert BargeIn.INTERRUPT in speech[-1] and not any(BargeIn.RELEASE in a for a in speech)
    assert user.onset == 3.0  # the user began where the canceller heard them
    unconfirmed = BargeInGuard(settings)
    assert unconfirmed.push(0.1, frame, True, over_echo=True) == [BargeIn.HOLD]
    waited = [unconfirmed.push(0.1, frame, True) for _ in range(4)]  # 128 ms after its word
    assert waited[:3] == [[BargeIn.HOLD]] * 3 and waited[3] == [BargeIn.RELEASE]
    # not while listening, and not where it is not asked for (no canceller: the VAD alone)
    assert unconfirmed.push(0.1, frame, False, over_echo=True) == [BargeIn.RELEASE]
    vad_alone = BargeInGuard(replace(settings, over_echo_hold_ms=0))
    assert vad_alone.push(0.1, frame, True, over_echo=True) == [BargeIn.RELEASE]
    no_hold = BargeInGuard(replace(settings, hold_ms=0))
    assert no_hold.push(0.1, frame, True, over_echo=True) == [BargeIn.RELEASE]


def test_a_user_the_canceller_hears_over_the_echo_holds_the_reply_sooner():
    """Through the real engine: the canceller's word on quiet audio (the VAD hears nothing yet)
    holds playback within a frame, and lets it go on when the VAD never hears anyone; with the
    word, loud speech over the reply is held a frame sooner than on the VAD alone."""

    async def scenario():
        h = Harness(ScriptedSTT("Tell me a story.", "Stop."), ScriptedChat(LONG_REPLY),
                    sink=PausesSink(), options=SPECULATING.echo_cancelled())  # fmt: skip
        await h.say()
        await h.until(lambda: h.of(AssistantSaying))
        await h.sound(0.04, QUIET, over_echo=True)
        assert h.conversation.turn_state == TurnState.HELD and h.sink.pauses == [True]
        await h.sound(0.4, QUIET)  # nobody: after OVER_ECHO_HOLD_MS it plays on
        assert h.conversation.turn_state == TurnState.SPEAKING and h.sink.pauses == [True, False]
        await h.sound(0.04, LOUD, over_echo=True)  # the first frame of speech: held at once
        assert h.sink.pauses == [True, False, True]
        await h.sound(0.8, LOUD)
        await h.until(lambda: h.of(TurnEnded))
        assert h.of(TurnEnded)[0].interrupted and h.sink.cleared == 1

    run(scenario())
