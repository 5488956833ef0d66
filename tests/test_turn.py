"""The voice turn from a file (one `Reply` into a collecting sink): logic checked with
scripted fakes, then once with the real engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import word_error_rate

from assistant.audio.codec import decode_file, silence
from assistant.conversation.events import AssistantSaying, UserSaid
from assistant.conversation.turn import voice_turn
from assistant.types import AudioChunk, ChatMessage, Transcription, Voice


class ScriptedSTT:
    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe(self, audio, *, language=None, prompt=None, temperature=None) -> Transcription:
        return Transcription(self.text, "en", audio.seconds)


class ScriptedChat:
    def __init__(self, deltas: list[str]) -> None:
        self.deltas = deltas
        self.calls: list[list[ChatMessage]] = []
        self.closed = False

    def stream_chat(
        self, messages, *, max_tokens=None, temperature=None, stop=None
    ) -> Iterator[str]:
        self.calls.append(list(messages))
        try:
            yield from self.deltas
        finally:
            self.closed = True


class ToneTTS:
    """One 0.1 s chunk per call, recording what it was asked to say."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.spoken: list[str] = []
        self.fail_on = fail_on

    def voices(self) -> list[Voice]:
        return [Voice("tone", "en", 16000)]

    def synthesize(self, text, *, voice=None, speed=1.0, instructions=None) -> Iterator[AudioChunk]:
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("synthesis failed")
        self.spoken.append(text)
        yield AudioChunk(b"\x01\x00" * 1600, 16000)


def test_silence_gives_no_model_call_and_no_audio():
    chat = ScriptedChat(["never"])
    result = voice_turn(silence(1, 16000), ScriptedSTT(""), chat, ToneTTS())
    assert result.heard == "" and result.record is None and result.audio is None
    assert chat.calls == []


def test_reply_is_spoken_sentence_by_sentence_after_the_history():
    chat = ScriptedChat(["Paris is the ", "capital. It is ", "in France", "."])
    tts = ToneTTS()
    history = [ChatMessage("system", "Be brief.")]
    result = voice_turn(
        silence(1, 16000), ScriptedSTT("Capital of France?"), chat, tts, history=history
    )
    assert chat.calls == [
        [ChatMessage("system", "Be brief."), ChatMessage("user", "Capital of France?")]
    ]
    assert tts.spoken == ["Paris is the capital.", "It is in France."]
    assert result.record is not None
    assert result.record.generated == "Paris is the capital. It is in France."
    assert result.record.spoken == result.record.generated and not result.record.interrupted
    assert result.audio is not None and result.audio.seconds == pytest.approx(0.2)
    latencies = result.record.timings.latencies_ms()  # the one vocabulary of every caller
    assert list(latencies) == ["endpoint", "transcript", "first_token", "first_sentence",
                               "first_audio", "done"]  # fmt: skip
    assert 0 <= latencies["transcript"] <= latencies["first_token"] <= latencies["first_sentence"]
    assert latencies["first_sentence"] <= latencies["first_audio"] <= latencies["done"]


class ClauseTTS:
    """A voice that makes a clause at a time: two 0.1 s pieces a call, noting before making the
    second whether the chunk had begun to play (been shown as said) by then."""

    def __init__(self, events: list) -> None:
        self.events = events
        self.playing_before_second: list[bool] = []

    def voices(self) -> list[Voice]:
        return [Voice("tone", "en", 16000)]

    def synthesize(self, text, *, voice=None, speed=1.0, instructions=None) -> Iterator[AudioChunk]:
        yield AudioChunk(b"\x01\x00" * 1600, 16000)
        said = [e.text for e in self.events if isinstance(e, AssistantSaying)]
        self.playing_before_second.append(text in said)
        yield AudioChunk(b"\x02\x00" * 1600, 16000)


def test_each_piece_of_a_chunk_plays_as_soon_as_it_is_made():
    # Kokoro makes a sentence clause by clause: waiting for the whole chunk kept its first clause
    # (and the reply's first audio) back for as long as the rest took to make
    events: list = []
    tts = ClauseTTS(events)
    chat = ScriptedChat(["Paris is the capital. ", "It is in France."])
    result = voice_turn(
        silence(1, 16000), ScriptedSTT("Capital of France?"), chat, tts, on_event=events.append
    )
    assert tts.playing_before_second == [True, True]
    assert result.audio is not None and result.audio.seconds == pytest.approx(0.4)
    assert result.record is not None and result.record.spoken == result.record.generated


def test_a_failing_synthesis_closes_the_model_stream():
    chat = ScriptedChat(["One. ", "Two. ", "Three. ", "Four."])
    with pytest.raises(RuntimeError):
        voice_turn(silence(1, 16000), ScriptedSTT("Count."), chat, ToneTTS(fail_on="Two"))
    assert chat.closed


def test_a_real_spoken_question_is_answered_aloud(stt, chat, tts, question_wav):
    events: list = []
    result = voice_turn(decode_file(question_wav), stt, chat, tts, on_event=events.append)
    assert word_error_rate(result.heard, "Who wrote Romeo and Juliet?") <= 0.2
    assert [e.text for e in events if isinstance(e, UserSaid)] == [result.heard]
    assert result.record is not None and result.record.generated
    assert events[-1] == result.record
    assert result.audio is not None and result.audio.seconds > 0.5
    assert stt.transcribe(result.audio).text  # the reply audio holds speech
