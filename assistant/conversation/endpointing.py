"""Turn-taking as a pure state machine: speech probabilities per frame in, speech events out.

Two ways to end a turn. Fixed silence: `silence_ms` of it ends the turn. Semantic (when
`turn_check_ms` is set): after that much silence the endpointer asks whether the turn is complete
(a `TurnCheck` event); the caller runs the end-of-turn model and answers with `verdict`:
"complete" ends the turn at once, "incomplete" waits, asking again every `turn_check_ms` of
silence, and `turn_max_ms` of silence ends it whatever the model says (or if it never answers).
With the verdict comes the speculative transcript, if there is one yet (turn_text.combine), and
how likely the reply's language model reads its words to end the turn: words that lead on ("I'd
like to") make the turn wait up to `turn_text_max_ms` whatever the model says."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..types import AudioChunk
from .turn_text import combine


@dataclass(frozen=True)
class EndpointSettings:
    sample_rate: int = 16000  # Hz
    frame_samples: int = 512
    threshold: float = 0.5  # speech probability that starts or continues speech
    min_speech_ms: int = 250  # voiced time before speech counts as started
    silence_ms: int = 500  # silence that ends the turn (without an end-of-turn model)
    turn_check_ms: int = 0  # silence after which (and as often again) the model is asked; 0: never
    turn_max_ms: int = 1000  # silence that ends the turn with the model, whatever it says
    turn_text_check: bool = True  # the transcript's last words may overrule the model
    turn_text_max_ms: int = 1500  # silence that ends a turn whose words lead on ("to", "and")
    turn_question_ends: bool = True  # a transcript ending in "?" overrules "incomplete"
    # the language model's reading of the words (the probability that they end the turn): under
    # this they lead on (0: never), over the next they end it whatever the model says (1: never)
    turn_words_unfinished_below: float = 0.03
    turn_words_finished_above: float = 1.0
    turn_words_wait_ms: int = 1000  # a "complete" waits for the transcript; 0: never
    pause_ms: int = 0  # shorter silence that announces a possible end (SpeechPaused); 0: never
    pre_roll_ms: int = 300  # audio kept from before the start, so the first word is whole
    max_utterance_s: float = 30.0  # a turn is ended after this long, whatever is heard

    @property
    def reads_words_end(self) -> bool:
        """The end of turn weighs the language model's reading of the words."""
        by_model = self.turn_words_unfinished_below > 0 or self.turn_words_finished_above < 1
        return bool(self.turn_check_ms) and self.turn_text_check and by_model


@dataclass(frozen=True)
class SpeechStarted:
    at: float  # seconds of stream time at which the voiced run began


@dataclass(frozen=True)
class SpeechPaused:
    """The speaker has been silent for `pause_ms`: the turn may be over (or may go on)."""

    audio: AudioChunk  # the utterance so far, as SpeechEnded would give it now
    started_at: float  # stream seconds
    speech_end: float  # stream seconds: end of the last voiced frame
    at: float  # stream seconds


@dataclass(frozen=True)
class SpeechResumed:
    """Speech again after a SpeechPaused, before the turn ended."""

    at: float  # stream seconds


@dataclass(frozen=True)
class TurnCheck:
    """The speaker has been silent for a multiple of `turn_check_ms`: is the turn complete? Answer
    with `Endpointer.verdict(check, complete)`; an answer after speech resumed is ignored."""

    audio: AudioChunk  # the utterance so far
    number: int  # which check, counted over the stream
    at: float  # stream seconds


@dataclass(frozen=True)
class SpeechEnded:
    audio: AudioChunk  # the utterance, with its pre-roll and a short tail
    started_at: float  # stream seconds
    speech_end: float  # stream seconds: end of the last voiced frame
    endpoint_at: float  # stream seconds: when the silence was long enough


SpeechEvent = SpeechStarted | SpeechPaused | SpeechResumed | TurnCheck | SpeechEnded


class Endpointer:
    """Feed frames (int16 PCM bytes) with their speech probability; get SpeechStarted, then
    SpeechEnded (with SpeechPaused/SpeechResumed between them when `pause_ms` is set)."""

    def __init__(self, settings: EndpointSettings = EndpointSettings()) -> None:
        self.settings = settings
        frame_ms = 1000 * settings.frame_samples / settings.sample_rate
        self._frame_seconds = frame_ms / 1000
        self._start_frames = max(1, round(settings.min_speech_ms / frame_ms))
        self._check_frames = round(settings.turn_check_ms / frame_ms)
        end_ms = settings.turn_max_ms if self._check_frames else settings.silence_ms
        self._end_frames = max(1, round(end_ms / frame_ms))
        self._text_end_frames = max(self._end_frames, round(settings.turn_text_max_ms / frame_ms))
        # 0: no pause events; a pause as long as the end silence would come too late to matter
        pause_frames = round(settings.pause_ms / frame_ms) if settings.pause_ms > 0 else 0
        self._pause_frames = max(1, pause_frames) if 0 < pause_frames < self._end_frames else 0
        self._max_frames = round(settings.max_utterance_s / self._frame_seconds)
        self._pre_roll: deque[bytes] = deque(maxlen=max(1, round(settings.pre_roll_ms / frame_ms)))
        self._negative = max(settings.threshold - 0.15, 0.05)  # hysteresis, as Silero recommends
        self._frames_seen = 0
        self._checks = 0  # TurnChecks sent over the stream
        self.reset()

    def reset(self) -> None:
        """Forget any utterance in progress (the stream clock keeps running)."""
        self._candidate: list[bytes] = []
        self._voiced = 0
        self._started = False
        self._utterance: list[bytes] = []
        self._silent = 0
        self._start_time = 0.0
        self._last_voiced_end = 0.0
        self._paused = False  # a SpeechPaused was sent for the current silence
        self._asking: int | None = None  # the TurnCheck waiting for its verdict
        self._limit = self._end_frames  # silence that ends the turn now
        self._settled = False  # the words lead on: no more checks in this silence

    @property
    def in_speech(self) -> bool:
        """True between SpeechStarted and SpeechEnded."""
        return self._started

    @property
    def now(self) -> float:
        return self._frames_seen * self._frame_seconds

    def push(self, frame: bytes, probability: float) -> list[SpeechEvent]:
        self._frames_seen += 1
        end_of_frame = self.now
        if not self._started:
            return self._while_idle(frame, probability, end_of_frame)
        return self._while_speaking(frame, probability, end_of_frame)

    def _while_idle(
        self, frame: bytes, probability: float, end_of_frame: float
    ) -> list[SpeechEvent]:
        if probability >= self.settings.threshold:
            if not self._candidate:
                self._start_time = end_of_frame - self._frame_seconds
            self._candidate.append(frame)
            self._voiced += 1
            self._silent = 0
            self._last_voiced_end = end_of_frame
            if self._voiced >= self._start_frames:
                self._started = True
                self._utterance = [*self._pre_roll, *self._candidate]
                self._pre_roll.clear()
                return [SpeechStarted(self._start_time)]
            return []
        if self._candidate:
            self._candidate.append(frame)
            self._silent += 1
            if self._silent >= self._end_frames:  # a short noise, not speech
                for kept in self._candidate:
                    self._pre_roll.append(kept)
                self._candidate, self._voiced, self._silent = [], 0, 0
            return []
        self._pre_roll.append(frame)
        return []

    def _while_speaking(
        self, frame: bytes, probability: float, end_of_frame: float
    ) -> list[SpeechEvent]:
        self._utterance.append(frame)
        events: list[SpeechEvent] = []
        if probability >= self._negative:
            self._silent = 0
            self._voiced += probability >= self.settings.threshold
            self._last_voiced_end = end_of_frame
            self._asking = None  # a verdict on the silence before is no longer wanted
            self._limit, self._settled = self._end_frames, False
            if self._paused:
                self._paused = False
                events.append(SpeechResumed(end_of_frame - self._frame_seconds))
        else:
            self._silent += 1
        too_long = len(self._utterance) >= self._max_frames
        if self._silent < self._limit and not too_long:
            if self._pause_frames and self._silent == self._pause_frames and not self._paused:
                self._paused = True
                start, last = self._start_time, self._last_voiced_end
                events.append(SpeechPaused(self._audio(), start, last, end_of_frame))
            if self._check_due():
                self._checks += 1
                self._asking = self._checks
                events.append(TurnCheck(self._audio(), self._checks, end_of_frame))
            return events
        return [*events, self._end(end_of_frame)]

    def _check_due(self) -> bool:
        """Time to ask the model: a multiple of `turn_check_ms` of silence, none pending."""
        every, silent = self._check_frames, self._silent
        due = silent > 0 and silent % every == 0 if every else False
        return due and self._asking is None and not self._settled

    def verdict(
        self,
        number: int,
        complete: bool,
        at: float | None = None,
        transcript: str | None = None,
        words_end: float | None = None,
    ) -> list[SpeechEvent]:
        """The model's answer to TurnCheck `number`, arrived at stream time `at` (default: now),
        with the speculative transcript as it stands then (None: not ready) and the language
        model's reading of it (None: not read): "complete" ends the turn now; "incomplete" lets
        the next check (or turn_max_ms) decide; words that lead on wait for turn_text_max_ms of
        silence."""
        if number != self._asking or not self._started:
            return []  # speech resumed, the turn ended, or it was reset: the answer is stale
        self._asking = None
        decided = combine(complete, transcript, words_end=words_end, **word_rules(self.settings))
        if decided.unfinished_words:
            self._limit, self._settled = self._text_end_frames, True
        if not decided.complete:
            return []
        return [self._end(max(at or 0.0, self.now))]

    def _end(self, endpoint_at: float) -> SpeechEnded:
        ended = SpeechEnded(
            audio=self._audio(),
            started_at=self._start_time,
            speech_end=self._last_voiced_end,
            endpoint_at=endpoint_at,
        )
        self.reset()
        return ended

    def _audio(self) -> AudioChunk:
        """The utterance up to its last voiced frame and a 0.2 s tail of what followed."""
        tail = max(0, len(self._utterance) - self._silent + round(0.2 / self._frame_seconds))
        return AudioChunk(b"".join(self._utterance[:tail]), self.settings.sample_rate)


def word_rules(settings: EndpointSettings) -> dict:
    """`turn_text.combine`'s rules, as `settings` set them."""
    return {
        "text_check": settings.turn_text_check,
        "question_ends": settings.turn_question_ends,
        "unfinished_below": settings.turn_words_unfinished_below,
        "finished_above": settings.turn_words_finished_above,
    }
