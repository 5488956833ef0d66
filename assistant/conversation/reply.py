"""One answer, start to finish: transcribe what was said (unless it was typed), stream the model's
reply, cut it into speakable chunks (the only place a reply is cut), synthesize each chunk, hand
the audio to a sink, and produce the turn's record (heard, written, spoken, interrupted) with one
set of timings.

Every caller makes its answers here: the hands-free engine (which starts, confirms and cancels
replies), the browser session through it, `assistant reply` and `assistant chat` (text in, text
out: no sink), and the benchmark's cold-start probe. Cancelling `run()` is an interruption: the
model's stream is closed on its own thread and the record keeps what was actually heard.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ..memory import release_freed
from ..providers import (
    ChatModel,
    SpeechToText,
    TextToSpeech,
    close_stream,
    speaks_by_clause,
    turn_transcriber,
)
from ..text import FIRST_CUT_WORDS, SpeakableStream
from ..types import AudioChunk, ChatMessage
from .events import AssistantSaying, ConversationEvent, Notice, TurnEnded, TurnTimings, UserSaid
from .language import typed_language, unvoiced_notice, voice_for
from .persona import persona_of
from .played import Played, heard_words
from .prompt import NEXT_WORDS, read_ahead, turn_prompt
from .sinks import AudioSink
from .skills import Announcement, Skills
from .watchdog import Workers
from .words_end import WordsEnd

__all__ = ["Reply", "ReplySettings", "Stages", "Workers"]

DRAIN_POLL = 0.02  # seconds between checks that the sink has played everything


@dataclass(frozen=True)
class Stages:
    """The engines a reply runs on. Without `tts` the reply is text only (`assistant chat`);
    with `skills`, a command they know is answered by them instead of the model."""

    stt: SpeechToText | None
    chat: ChatModel
    tts: TextToSpeech | None
    skills: Skills | None = None


@dataclass(frozen=True)
class ReplySettings:
    voice: str | None = None
    speed: float = 1.0
    hold_llm_for_first_audio: bool = True  # two cores: let TTS have them for the first sentence
    voices_by_language: tuple[tuple[str, str], ...] = ()  # language -> voice, for each turn
    instructions: str | None = None  # how to speak (providers.instructions reads it)
    language: str | None = None  # every turn heard and answered in it (None: as heard)
    voice_persona: bool = True  # the speaking voice's character line in the system prompt
    first_chunk_ms: int = 0  # the first chunk's timed cut (text.SentenceSplitter); 0: off
    first_chunk_words: int = FIRST_CUT_WORDS  # words the timed first chunk has at least
    live_transcription: bool = True  # the engine's way to hear a live turn (TurnSpeechToText)
    dont_know_examples: bool = False  # the "I don't know" example turns first (examples.py)
    read_words_end: bool = False  # begun at a pause: the model reads how likely the words end it


class Reply:
    """One answer to `said` (audio to transcribe, or text), given the conversation so far.

    A reply begun before the user's turn is known to be over (`confirmed=False`) transcribes,
    thinks and synthesizes, but says and plays nothing until `confirm()`.
    """

    def __init__(
        self,
        stages: Stages,
        workers: Workers,
        said: AudioChunk | str | Announcement,
        *,
        history: Sequence[ChatMessage],
        sink: AudioSink | None,
        settings: ReplySettings,
        timings: TurnTimings,
        earlier: str = "",
        confirmed: bool = True,
        on_event: Callable[[ConversationEvent], None] = lambda event: None,
        on_delta: Callable[[str], None] | None = None,
    ) -> None:
        self._stages, self._workers, self._said = stages, workers, said
        self._history = history  # read when the model is asked: it may grow meanwhile
        self._sink = sink
        self.settings = settings
        self.timings = timings
        self._earlier = earlier  # user speech whose own reply was cut off by more speech
        self._on_event, self._on_delta = on_event, on_delta
        self.started_at = time.time()
        self._confirmed = asyncio.Event()
        if confirmed:
            self._confirmed.set()
        self._played = Played()
        self._generated: list[str] = []
        self.user_text = ""  # what is answered: `earlier` and what was heard now
        self.language: str | None = None  # the language heard (answered in, and spoken in)
        self._voice = settings.voice  # the voice for that language
        self._heard: tuple[str, AudioChunk | None] | None = None  # transcript, its audio
        self._turn_audio: AudioChunk | None = None  # the whole turn, when confirmed later
        self._unwanted = threading.Event()  # the transcription is no longer awaited
        self.words_end = WordsEnd(stages.chat, settings.read_words_end)  # for the end of turn
        self._answer: str | None = None  # said without the model (a command, an announcement)
        self.announced = False  # UserSaid was emitted
        self.abandoned = False  # the user went on talking: answer everything together later
        self.record: TurnEnded | None = None  # set once the reply has ended with something said
        self.failure: Exception | None = None  # an engine's error that ended the reply

    # --- what the engine asks ----------------------------------------------------------------

    @property
    def confirmed(self) -> bool:
        return self._confirmed.is_set()

    @property
    def transcribed(self) -> bool:
        return self.timings.transcript is not None

    @property
    def has_played(self) -> bool:
        """Some audio (or, text only, some text) has gone out."""
        return bool(self._played.chunks)

    def confirm(self, speech_end: float | None, endpoint: float | None, audio: AudioChunk) -> None:
        """The turn is over with no more speech since this reply began: it is the answer. The
        speech ended where it did at the pause; that reading, taken sooner, is kept."""
        speech_end = self.timings.speech_end or speech_end
        self.timings = replace(self.timings, speech_end=speech_end, endpoint=endpoint)
        self._turn_audio = audio
        self._confirmed.set()
        self._announce_heard()

    def abandon(self) -> bool:
        """The user goes on talking before hearing anything: this reply is not wanted. True when
        it can be cancelled now (else it ends by itself once the transcription is in)."""
        self.abandoned = True
        return self.transcribed

    def note(self, **moments: float) -> None:
        """Record clock readings, e.g. `barge_in_onset`."""
        self.timings = replace(self.timings, **moments)

    def stop_playback(self, stopped_at: float) -> None:
        """Flush the sink now, remembering how much had been heard."""
        if self._sink is None:
            return
        if self._played.heard_at_stop is None:
            self._played.heard_at_stop = self._played.queued - self._sink.pending_seconds()
        self._sink.clear()
        self.note(playback_stopped=stopped_at)

    @property
    def heard_text(self) -> str:
        """What was transcribed (or typed) this time; empty before that or for silence."""
        return self._heard[0] if self._heard else ""

    def spoken_text(self) -> str:
        """The words the user heard: the chunks played to the end, and the part of a chunk cut
        off in proportion to the time it had played. A text reply: all that was shown."""
        played = self._played
        if self._sink is None:
            return "".join(self._generated).strip()
        heard = played.queued if played.heard_at_stop is None else played.heard_at_stop
        return heard_words(played.chunks, heard)

    # --- the answer ------------------------------------------------------------------------

    async def run(self) -> TurnEnded | None:
        """Make the whole answer. Returns its record; None when nothing was to be answered (no
        speech, an abandoned or unconfirmed reply, an engine failure: said as a Notice)."""
        try:
            if not await self._hear():
                return None
            await self._think_and_speak()
            await self._confirmed.wait()
            # the heap's free memory back to the system, on the idle hearing thread
            self._workers.submit("stt", release_freed)
            return self._finish(interrupted=False)
        except (asyncio.CancelledError, KeyboardInterrupt):  # Ctrl-C in a one-shot command
            if self.user_text and self.confirmed and not self.abandoned:  # keep what was heard
                self._finish(interrupted=True)
            raise
        except Exception as error:  # an engine failed: say so; the caller goes on
            self.failure = error
            self._on_event(Notice(f"the reply failed: {error}"))
            return None

    def run_blocking(self) -> TurnEnded | None:
        """`run()` for a caller with no event loop (a one-shot command, the probe)."""
        return asyncio.run(self.run())

    async def _hear(self) -> bool:
        """The user's words; False when there is nothing (more) to answer."""
        audio = self._said if isinstance(self._said, AudioChunk) else None
        if isinstance(self._said, Announcement):  # nothing to hear: the assistant speaks first
            self._answer, self.language = self._said.text, typed_language(self._said.text)
            self._choose_voice()
            return True
        chosen = self.settings.language
        if audio is None:
            heard, self.language = str(self._said), chosen or typed_language(str(self._said))
        else:
            try:
                heard_as = await self._workers.run("stt", self._transcriber(), audio)
            finally:  # dropped or timed out: the engine gives it up at its next step
                self._unwanted.set()
            # Whisper's freed working memory back before the voice needs its own (the peak)
            self._workers.submit("stt", release_freed)
            heard, self.language = heard_as.text, chosen or heard_as.language
        self._choose_voice()
        self.note(transcript=time.monotonic())
        self.user_text = " ".join(part for part in (self._earlier, heard) if part)
        if not self.user_text:
            return False
        self._heard = (heard, audio)
        self._announce_heard()
        return not self.abandoned

    def _transcriber(self) -> Callable[[AudioChunk], Any]:
        """The stage's transcription, in the language chosen; where the engine has one, its way
        to hear a live turn: words only, given up part way once this reply no longer awaits it
        (so a reply begun at a pause and dropped does not hold the engine from the next one)."""
        stt, chosen = self._stages.stt, self.settings.language
        assert stt is not None, "a spoken turn needs a speech-to-text stage"
        if self.settings.live_transcription:
            return turn_transcriber(stt, chosen, self._unwanted.is_set)
        return partial(stt.transcribe, language=chosen)

    def _choose_voice(self) -> None:
        """The voice that speaks the language heard (see `language.voice_for`)."""
        tts, by_language = self._stages.tts, dict(self.settings.voices_by_language)
        if tts is not None and self.language:
            voices = tts.voices()
            self._voice = voice_for(voices, self.settings.voice, self.language, by_language)
            if notice := unvoiced_notice(voices, self._voice, self.language):
                self._on_event(Notice(notice))

    def _persona(self) -> str:
        """The system prompt's line for the voice that speaks this reply (see persona.py)."""
        if not self.settings.voice_persona:
            return ""
        return persona_of(self._stages.tts, self._voice, self.settings.instructions)

    def _prompt(self, history: Sequence[ChatMessage], user_text: str) -> list[ChatMessage]:
        """What the model is asked when the user says `user_text` after `history` (no tools)."""
        return turn_prompt(history, user_text, language=self.language, persona=self._persona(),
                           examples=self.settings.dont_know_examples)  # fmt: skip

    def remember_in(self, history: list[ChatMessage]) -> bool:
        """Add what this reply heard and said to `history` (the conversation's messages), then
        read the next turn's prompt ahead; False when it has nothing to add (no record)."""
        if self.record is None:
            return False
        history.extend(self.record.messages())
        self._read_ahead(history)
        return True

    def _read_ahead(self, history: Sequence[ChatMessage]) -> None:
        """Once this reply is said and `history` holds it: the model reads the next turn's prompt
        up to the user's words, on its thread while nobody waits (see prompt.py). Not after an
        interruption (the user is speaking: the cores are theirs) nor once the workers closed."""
        if self.record is None or self.record.interrupted or self._workers.closed:
            return
        prompt, skills = self._prompt(history, NEXT_WORDS), self._stages.skills
        prompt = skills.model_prompt(prompt) if skills is not None else prompt
        self._workers.submit("llm", read_ahead, self._stages.chat, prompt)

    def _announce_heard(self) -> None:
        """What the user said, once it is both transcribed and known to be a turn."""
        if self._heard is None or self.announced or not self.confirmed:
            return
        self.announced = True
        heard, audio = self._heard
        if heard:
            ended_at = time.time() - (time.monotonic() - (self.timings.speech_end or 0))
            self._on_event(UserSaid(heard, self._turn_audio or audio, ended_at))

    async def _think_and_speak(self) -> None:
        skills = self._stages.skills
        command = None if self._answer is not None or skills is None else \
            skills.command(self.user_text, self.language)  # fmt: skip
        if command is not None:  # no model call; it acts once the turn is surely over
            self.words_end.skip()
            await self._confirmed.wait()
            self._answer = await self._workers.run("llm", command)
        if self._answer is not None:
            stream: Iterator[str] = iter([self._answer])
        else:
            messages = self._prompt(self._history, self.user_text)
            prompt = skills.model_prompt(messages) if skills else messages
            await self.words_end.read_with(self._workers, prompt, lambda: not self.confirmed)
            with_tools = skills and skills.stream_chat(self._stages.chat, messages, self.language)
            # on the model's thread, under its watchdog: an engine may do real work to begin
            stream = with_tools or await self._workers.run(
                "llm", self._stages.chat.stream_chat, messages
            )
        chunks: asyncio.Queue[str | None] = asyncio.Queue()
        first_audio = asyncio.Event()
        speaker = asyncio.get_running_loop().create_task(self._speak(chunks, first_audio))
        try:
            await self._generate(stream, chunks, first_audio)
            await speaker
            self.note(done=time.monotonic())
        finally:
            speaker.cancel()
            # on the model's own thread, after any next() still under way there
            self._workers.submit("llm", close_stream, stream)

    async def _generate(
        self, stream: Iterator[str], chunks: asyncio.Queue, first_audio: asyncio.Event
    ) -> None:
        rules = self.settings
        splitter = SpeakableStream(
            first_cut_ms=rules.first_chunk_ms,
            first_cut_words=rules.first_chunk_words,
            clause_chunks=speaks_by_clause(self._stages.tts, self._voice),
        )
        while (delta := await self._workers.run("llm", next, stream, None)) is not None:
            if not self._generated:
                self.note(first_token=time.monotonic())
                delta = delta.lstrip()
            self._generated.append(delta)
            if self._on_delta is not None:
                self._on_delta(delta)
            for chunk in splitter.feed(delta):
                await self._queue_chunk(chunk, chunks, first_audio)
        for chunk in splitter.flush():
            await self._queue_chunk(chunk, chunks, first_audio)
        await chunks.put(None)

    async def _queue_chunk(self, chunk: str, chunks: asyncio.Queue, first: asyncio.Event) -> None:
        await chunks.put(chunk)
        if self.timings.first_sentence is None:
            self.note(first_sentence=time.monotonic())
            if self.settings.hold_llm_for_first_audio and self._stages.tts is not None:
                await first.wait()  # two cores: let TTS have them for the first audio

    async def _speak(self, chunks: asyncio.Queue, first_audio: asyncio.Event) -> None:
        try:
            while (chunk := await chunks.get()) is not None:
                await self._say_chunk(chunk)
                first_audio.set()
        finally:
            first_audio.set()  # never leave the generator waiting
        while self._sink is not None and self._sink.pending_seconds() > 0:
            await asyncio.sleep(DRAIN_POLL)

    async def _say_chunk(self, text: str) -> None:
        """Speak one chunk: each piece of its audio (a voice may make it a clause at a time) is
        played as soon as it is made, once the reply is the turn. A text reply shows it."""
        tts, begun = self._stages.tts, False
        if tts is not None:
            voice, speed, style = self._voice, self.settings.speed, self.settings.instructions
            pieces = await self._workers.run("tts", _pieces, tts, text, voice, speed, style)
            try:
                while (audio := await self._workers.run("tts", next, pieces, None)) is not None:
                    await self._confirmed.wait()  # a reply begun early plays once it is the turn
                    if not begun:
                        self._begin_chunk(text)
                        begun = True
                    self._queue_audio(audio)
            finally:  # on the voice's own thread, after any piece still being made there
                self._workers.submit("tts", close_stream, pieces)
                self._workers.submit("tts", release_freed)  # what the voice freed, while it plays
        if not begun and self._sink is None:  # nothing to hear: the text is shown
            await self._confirmed.wait()
            self._begin_chunk(text)

    def _begin_chunk(self, text: str) -> None:
        """`text` begins here in the reply's audio (its end grows with each piece queued)."""
        played = self._played
        played.chunks.append((text, played.queued, played.queued))
        self._on_event(AssistantSaying(text))

    def _queue_audio(self, audio: AudioChunk) -> None:
        """A piece of the current chunk's audio, to the sink."""
        played = self._played
        assert self._sink is not None
        self._sink.play(audio)
        played.queued += audio.seconds
        played.audio.append(audio)
        text, start, _ = played.chunks[-1]
        played.chunks[-1] = (text, start, played.queued)
        if self.timings.first_audio is None:
            self.note(first_audio=time.monotonic())

    def _finish(self, *, interrupted: bool) -> TurnEnded:
        self.record = TurnEnded(
            user=self.user_text,
            generated="".join(self._generated).strip(),
            spoken=self.spoken_text(),
            interrupted=interrupted,
            timings=self.timings,
            started_at=self.started_at,
            ended_at=time.time(),
            audio=tuple(self._played.audio),
        )
        self._on_event(self.record)
        return self.record


def _pieces(
    tts: TextToSpeech, text: str, voice: str | None, speed: float, instructions: str | None
) -> Iterator[AudioChunk]:
    """`text`'s audio as the voice makes it, piece by piece (each next() on the voice's thread)."""
    return iter(tts.synthesize(text, voice=voice, speed=speed, instructions=instructions))
