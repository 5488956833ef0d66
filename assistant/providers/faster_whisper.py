"""Speech-to-text with faster-whisper (CTranslate2), from a model directory on disk."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.codec import resample
from ..config import Config, language_code, threads_for
from ..errors import AssistantError, UsageError
from ..script import in_script
from ..text import has_cjk
from ..types import AudioChunk, Segment, Transcription
from . import TranscriptionStopped
from .store import ModelStore

WHISPER_RATE = 16000  # Hz
NO_SPEECH_PROBABILITY = 0.6  # with a low log-probability, Whisper's own "nothing said" rule
LOW_LOGPROB = -1.0

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback when a decode fails its checks
# a live turn's tokens, at most: twice what fast speech needs (English ~4 tokens a second,
# Mandarin ~7), so a decode caught in a loop ("wrote wrote wrote ...") ends there instead of at
# Whisper's 448 tokens (~2 s a try here, and one try cannot be stopped inside)
TURN_TOKENS_BASE, TURN_TOKENS_PER_SECOND = 24, 14
WINDOW_S, WINDOW_TOKENS = 30.0, 440  # Whisper's window, and its 448 tokens less the prompt's
FRAMES_PER_SECOND = 100  # Whisper's log-mel frames
# with stt.turn_window_s under 30, a live turn's encoder reads the turn and this much after it (at
# least the window): the encoder's time goes with its window (tiny.en on 2 cores: 30 s 273 ms,
# 10 s 32 ms). Short speech needs the padding: with 0.5-2 s after a question tiny.en's error rate
# went from 0.08 to 0.25-0.40 (repeated phrases); in 10-15 s it held on clean speech, not quite
# through real audio paths (README, "Whisper's window")
TURN_WINDOW_MARGIN_S = 2.0


@dataclass(frozen=True)
class WhisperOptions:
    beam_size: int = 1
    language: str | None = None
    vad_filter: bool = True
    chinese_script: str = "simplified"  # how Mandarin is written: see assistant/script.py
    turn_window_s: float = WINDOW_S  # a live turn's encoder window (turn_window_frames)


class FasterWhisperSTT:
    """Transcribes with a loaded `faster_whisper.WhisperModel`; see `load`."""

    def __init__(self, model: Any, options: WhisperOptions, *, english_only: bool) -> None:
        self._steps = _Stoppable(model.model)
        model.model = self._steps  # faster-whisper encodes and decodes through it
        self._model = model
        self._options = options
        self._english_only = english_only
        self.decode_options()  # an English-only model configured for another language: at load

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        device: str = "cpu",
        compute_type: str = "auto",
        threads: int = 0,
        options: WhisperOptions = WhisperOptions(),
    ) -> FasterWhisperSTT:
        from faster_whisper import WhisperModel

        requested, device = device, _choose_device(device)
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        model = WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=threads_for(threads, cap=4),
            local_files_only=True,
        )
        if device == "cuda" and (problem := _cuda_problem(model)):
            if requested == "cuda":
                raise AssistantError(
                    f"Whisper cannot run on the GPU: {problem}. CTranslate2's wheels need the "
                    "CUDA 12 cuBLAS and cuDNN 9 libraries (pip install nvidia-cublas-cu12 "
                    "nvidia-cudnn-cu12, then put their lib folders on LD_LIBRARY_PATH), or set "
                    "stt.device = 'cpu'"
                )
            return cls.load(  # "auto": the GPU is there but unusable, so the CPU it is
                model_dir, device="cpu", compute_type="auto", threads=threads, options=options
            )
        english_only = model_dir.name.endswith(".en") or not model.model.is_multilingual
        return cls(model, options, english_only=english_only)

    def warm_up(self) -> None:
        """Transcribe one second of silence twice, as a turn would (loading faster-whisper's VAD
        model) and past the VAD (running the encoder and decoder once), so that the first turn
        pays no first-call costs (~100 ms)."""
        silent = AudioChunk(bytes(2 * WHISPER_RATE), WHISPER_RATE)
        self.transcribe(silent)
        options = {**self.decode_options(temperature=0.0), "vad_filter": False}  # reach the encoder
        segments, _ = self._model.transcribe(silent.to_float32(), **options)
        for _ in segments:
            pass

    @property
    def engine(self) -> Any:
        """The `faster_whisper.WhisperModel` itself (the benchmark times it alone)."""
        return self._model

    def decode_options(
        self,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments this provider gives `WhisperModel.transcribe`. An English-only
        model asked for another language is an error (Whisper would write English words)."""
        language = language or self._options.language
        if self._english_only and language_code(language) not in ("", "en", "auto"):
            raise UsageError(
                f"this speech-to-text model hears English only, not '{language}': "
                "use a multilingual one (for Chinese: assistant models pull --language zh, then "
                "--language zh or auto picks it; or --set stt.model=whisper-base)"
            )
        language = language or ("en" if self._english_only else None)
        return {
            "language": language,
            "initial_prompt": prompt or None,
            "beam_size": self._options.beam_size,
            "temperature": temperature if temperature is not None else TEMPERATURES,
            "vad_filter": self._options.vad_filter,
            "condition_on_previous_text": False,
        }

    def transcribe(
        self,
        audio: AudioChunk,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        timestamps: bool = True,
        max_tokens: int | None = None,
    ) -> Transcription:
        samples = resample(audio, WHISPER_RATE).to_float32()
        options = self.decode_options(language, prompt, temperature)
        options["without_timestamps"] = not timestamps
        options["max_new_tokens"] = max_tokens  # per 30 s window; None: Whisper's own limit
        segments, info = self._model.transcribe(samples, **options)
        language = options["language"]
        script = self._options.chinese_script if info.language == "zh" else "as-heard"
        kept = tuple(  # the segments are lazy: decoding happens here, on the caller's thread
            Segment(s.start, s.end, in_script(s.text.strip(), script))
            for s in segments
            if s.text.strip() and not _is_no_speech(s)
        )
        return Transcription(
            text=_joined(s.text for s in kept),
            language=info.language,
            duration=audio.seconds,
            segments=kept,
        )

    def transcribe_turn(
        self, audio: AudioChunk, stopped: Callable[[], bool], *, language: str | None = None
    ) -> Transcription:
        """`transcribe` without Whisper's timestamp tokens (two fewer to decode, of the ~10 of a
        short question; the segments then span the audio), at most `turn_tokens` a window, its
        encoder reading `turn_window_frames` instead of 30 s, given up (TranscriptionStopped)
        before its next encoding or decoding once `stopped()` holds. One Whisper step cannot be
        stopped inside."""
        frames = turn_window_frames(audio.seconds, self._options.turn_window_s)
        with self._steps.watching(stopped, frames):
            self._steps.check()
            budget = turn_tokens(audio.seconds)
            return self.transcribe(audio, language=language, timestamps=False, max_tokens=budget)


class _Stoppable:
    """CTranslate2's Whisper as faster-whisper calls it, with a check before each encoding and
    each decoding (one 30 s window each, the steps that cost): where a transcription that is no
    longer wanted (`FasterWhisperSTT.transcribe_turn`) is given up, and where a live turn's
    encoder window is cut to its frames."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._local = threading.local()  # this thread's transcription's `stopped` and window

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @contextmanager
    def watching(self, stopped: Callable[[], bool], frames: int | None = None) -> Iterator[None]:
        """For the transcription on this thread: `stopped` checked before each step, and the
        encoder's window cut to `frames` (None: Whisper's own)."""
        self._local.stopped, self._local.frames = stopped, frames
        try:
            yield
        finally:
            self._local.stopped = self._local.frames = None

    def check(self) -> None:
        stopped = getattr(self._local, "stopped", None)
        if stopped is not None and stopped():
            raise TranscriptionStopped

    def encode(self, features: Any, *args: Any, **options: Any) -> Any:
        self.check()
        frames = getattr(self._local, "frames", None)
        if frames is not None and features.shape[-1] > frames:
            features = _first_frames(features, frames)
        return self._model.encode(features, *args, **options)

    def generate(self, *args: Any, **options: Any) -> Any:
        self.check()
        return self._model.generate(*args, **options)


def turn_tokens(seconds: float) -> int:
    """The most tokens a live turn of `seconds` may be decoded to, per Whisper window."""
    spoken = min(seconds, WINDOW_S)
    return min(WINDOW_TOKENS, round(TURN_TOKENS_BASE + TURN_TOKENS_PER_SECOND * spoken))


def turn_window_frames(seconds: float, window_s: float) -> int | None:
    """The log-mel frames a live turn of `seconds` is encoded in: `window_s`, or the turn and
    TURN_WINDOW_MARGIN_S if longer (even: the encoder halves them). None: Whisper's 30 s window
    (the turn fills it, or no shorter one is wanted)."""
    seconds = max(window_s, seconds + TURN_WINDOW_MARGIN_S)
    frames = 2 * math.ceil(seconds * FRAMES_PER_SECOND / 2)
    return frames if frames < WINDOW_S * FRAMES_PER_SECOND else None


def _first_frames(features: Any, frames: int) -> Any:
    """A CTranslate2 StorageView of log-mel features (on the CPU), cut to its first `frames`."""
    import ctranslate2

    cut = np.ascontiguousarray(np.asarray(features)[..., :frames])
    return ctranslate2.StorageView.from_array(cut)


def _joined(texts: Iterable[str]) -> str:
    """Segments' texts as one: a space between words, none between Chinese characters."""
    out = ""
    for text in texts:
        if out and not (has_cjk(text[0]) and has_cjk(out[-1])):
            out += " "
        out += text
    return out


def _language(setting: str) -> str | None:
    """stt.language -> Whisper's: None detects ("" on a multilingual model, or "auto")."""
    return None if setting in ("", "auto") else setting


def _is_no_speech(segment: Any) -> bool:
    return segment.no_speech_prob > NO_SPEECH_PROBABILITY and segment.avg_logprob < LOW_LOGPROB


def _cuda_problem(model: Any) -> str | None:
    """Why a model loaded on CUDA cannot run there, or None. CTranslate2 finds the GPU and
    loads the weights without cuBLAS; only the first encoding opens it (measured on an H200
    with CUDA 13 only: "Library libcublas.so.12 is not found or cannot be loaded")."""
    silent = np.zeros(WHISPER_RATE // 10, dtype=np.float32)
    try:
        segments, _ = model.transcribe(silent, vad_filter=False, beam_size=1, temperature=0.0)
        for _ in segments:
            pass
    except RuntimeError as error:
        return str(error)
    return None


def _choose_device(device: str) -> str:
    if device not in ("cpu", "cuda", "auto"):
        raise UsageError(f"stt.device must be cpu, cuda or auto, not '{device}'")
    if device == "cpu":
        return device
    import ctranslate2

    has_cuda = ctranslate2.get_cuda_device_count() > 0
    if device == "cuda" and not has_cuda:
        raise UsageError(
            "stt.device is 'cuda' but no CUDA device is available; set stt.device = 'cpu'"
        )
    return "cuda" if has_cuda else "cpu"


def create(config: Config, store: ModelStore) -> FasterWhisperSTT:
    stt = config.stt
    if stt.beam_size < 1:
        raise UsageError(f"stt.beam_size must be at least 1, not {stt.beam_size}")
    return FasterWhisperSTT.load(
        store.require(stt.model, "stt"),
        device=stt.device,
        compute_type=stt.compute_type,
        threads=stt.threads,
        options=WhisperOptions(
            stt.beam_size,
            _language(stt.language),
            stt.vad_filter,
            stt.chinese_script,
            stt.turn_window_s,
        ),
    )
