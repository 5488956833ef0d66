"""The conversation's settings, and how they come from the configuration (for talk, the
browser session and the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..config import Config, voice_map
from ..text import FIRST_CUT_WORDS
from ..types import ChatMessage
from .barge_in import BargeInSettings
from .endpointing import EndpointSettings
from .examples import wants_examples
from .persona import persona_of, with_persona
from .reply import ReplySettings
from .watchdog import StageLimits

# a voice over the speaker comes out of the echo canceller in bursts: gaps this short are bridged
ECHO_CANCELLED_GAP_MS = 160
# held playback's echo (the room's delay and reverberation, and what AEC3 lets through once the
# speaker falls silent, most before it has learnt the room) lasts about this long: speech
# interrupts only if it goes on past it (bench --echo: 20 replies, 0 vs 300 ms: no barge-in
# missed more, interrupted p50 540 -> 560 ms; a fresh canceller at +6 dB, one sentence read 200
# times: self-interruptions 9 -> 3)
ECHO_TAIL_MS = 300
# the canceller heard the user over the echo (its double-talk judgement, ~75 ms before Silero
# hears them through it): playback is held at once and for this long after, for the VAD to
# confirm (it did ~40-110 ms later in bench --echo's replies)
OVER_ECHO_HOLD_MS = 250


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
    barge_in_gap_ms: int = 0  # quieter gaps this short do not end speech over playback
    barge_in_echo_tail_ms: int = 0  # after a hold, speech interrupts only once it lasts this long
    barge_in_over_echo_hold_ms: int = 0  # the canceller heard the user over the echo: held this
    # long for the VAD to hear them too; 0: only the VAD holds
    hold_llm_for_first_audio: bool = True  # two cores: let TTS have them for the first sentence
    endpointing: EndpointSettings = field(default_factory=EndpointSettings)
    voices_by_language: tuple[tuple[str, str], ...] = ()  # each turn's voice, by language heard
    instructions: str | None = None  # how replies are spoken ("speak slowly and calmly")
    voice_persona: bool = True  # the speaking voice's character line in the system prompt
    first_chunk_ms: int = 0  # the first chunk's timed cut (text.SentenceSplitter); 0: off
    first_chunk_words: int = FIRST_CUT_WORDS  # words the timed first chunk has at least
    follow_up_s: float = 8.0  # with a wake word: after a reply, go on without it this long
    stage_limits: StageLimits = field(default_factory=StageLimits)  # the stage watchdogs
    language: str | None = None  # every turn heard and answered in it (None: as heard)
    # the STT's way to hear a live turn (words only, given up once the reply is dropped); off
    # only to measure it (scripts/side_by_side.py --variant live_transcription=false)
    live_transcription: bool = True
    dont_know_examples: bool = False  # the "I don't know" example turns first (examples.py)

    def echo_cancelled(self) -> ConversationOptions:
        """These options for a microphone cleaned of the speaker's echo: speech over the
        assistant interrupts at the ordinary speech threshold, its bursts bridged, once it has
        outlasted the echo of what was played before the hold."""
        threshold = self.endpointing.threshold
        return replace(
            self,
            barge_in_threshold=threshold,
            barge_in_gap_ms=ECHO_CANCELLED_GAP_MS,
            barge_in_echo_tail_ms=ECHO_TAIL_MS,
            barge_in_over_echo_hold_ms=OVER_ECHO_HOLD_MS,
        )

    def first_system_prompt(self, tts: Any) -> str:
        """The system prompt as the first reply sends it, with the speaking voice's persona line:
        what the warm-up evaluates into the language model's cache."""
        line = persona_of(tts, self.voice, self.instructions) if self.voice_persona else ""
        return with_persona([ChatMessage("system", self.system_prompt)], line)[0].content

    def barge_in_settings(self) -> BargeInSettings:
        return BargeInSettings(
            enabled=self.barge_in,
            interrupt_ms=self.barge_in_ms,
            threshold=self.barge_in_threshold,
            hold_ms=self.barge_in_hold_ms,
            gap_ms=self.barge_in_gap_ms,
            echo_tail_ms=self.barge_in_echo_tail_ms,
            over_echo_hold_ms=self.barge_in_over_echo_hold_ms,
        )

    def text_reply_settings(self) -> ReplySettings:
        """What a typed conversation's replies take of these options (`assistant chat`, Wyoming's
        conversation agent, the typed quality questions): no voice, so no persona or speed."""
        return ReplySettings(dont_know_examples=self.dont_know_examples)

    def reply_settings(self) -> ReplySettings:
        return ReplySettings(
            self.voice,
            self.speed,
            self.hold_llm_for_first_audio,
            self.voices_by_language,
            self.instructions,
            self.language,
            voice_persona=self.voice_persona,
            first_chunk_ms=self.first_chunk_ms,
            first_chunk_words=self.first_chunk_words,
            live_transcription=self.live_transcription,
            dont_know_examples=self.dont_know_examples,
            read_words_end=self.endpointing.reads_words_end,
        )


def conversation_options(config: Config, **overrides) -> ConversationOptions:
    """The conversation's settings from the config, with per-run overrides (None: keep)."""
    settings = config.conversation
    barge_in = overrides.get("barge_in")
    prompt = overrides.get("system_prompt") or config.llm.system_prompt
    return ConversationOptions(
        system_prompt=f"{prompt} {settings.persona}".strip(),
        voice=overrides.get("voice") or config.tts.voice,
        speed=overrides.get("speed") or config.tts.speed,
        barge_in=settings.barge_in if barge_in is None else barge_in == "on",
        barge_in_ms=settings.barge_in_ms,
        barge_in_hold_ms=settings.barge_in_hold_ms,
        voices_by_language=voice_map(config.tts.voices_by_language),
        instructions=config.tts.instructions or None,
        voice_persona=settings.voice_persona,
        dont_know_examples=wants_examples(config),
        first_chunk_ms=settings.first_chunk_ms,
        first_chunk_words=settings.first_chunk_words,
        follow_up_s=settings.follow_up_s,
        stage_limits=StageLimits(
            settings.stt_timeout_s, settings.llm_timeout_s, settings.tts_timeout_s
        ),
        endpointing=EndpointSettings(
            threshold=settings.vad_threshold,
            min_speech_ms=settings.min_speech_ms,
            silence_ms=settings.silence_ms,
            pause_ms=settings.speculate_ms,
            turn_check_ms=settings.turn_check_ms if settings.turn_detection == "smart" else 0,
            turn_max_ms=settings.turn_max_ms,
            turn_text_check=settings.turn_text_check,
            turn_text_max_ms=settings.turn_text_max_ms,
            turn_question_ends=settings.turn_question_ends,
            turn_words_wait_ms=settings.turn_words_wait_ms,
            turn_words_unfinished_below=settings.turn_words_unfinished_below,
            turn_words_finished_above=settings.turn_words_finished_above,
        ),
    )
