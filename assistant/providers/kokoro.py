"""Text-to-speech with Kokoro-82M (int8 ONNX, 24 kHz): English phonemes from espeak-ng (the
library bundled by kokoro-onnx), Mandarin phonemes from misaki (jieba + pypinyin); all offline."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..errors import AssistantError, UnknownNameError, UsageError
from ..text import MAX_CHUNK_CHARS, growing_pieces, has_cjk, pause_after
from ..types import AudioChunk, Voice
from . import warm_up_text
from .instructions import read_instructions, styled
from .onnx_sessions import open_voice_session
from .openai_api import check_synthesis
from .store import ModelStore

SAMPLE_RATE = 24000
ID_PREFIX = "kokoro-"
LANGUAGES = ("en", "zh")
DEFAULT_VOICE = "kokoro-nezumi"
SPEED_RANGE = (0.5, 2.0)  # what the model speaks intelligibly
# voice pack -> character; measured in the README's voices table
CHARACTERS = {
    "jf_nezumi": "Nezumi: soft and gentle; the clearest Mandarin",
    "jm_kumo": "Kumo: calm and low, an unhurried man",
    "jf_tebukuro": "Tebukuro: bright and warm",
    "jf_alpha": "Alpha: clear and friendly",
    "jf_gongitsune": "Gongitsune: lively, a storyteller",
}


@dataclass(frozen=True)
class KokoroFiles:
    model: Path  # model.onnx
    voices: Path  # voices.npz: one style array per voice pack


def is_kokoro(files: set[str]) -> bool:
    """True for a model directory's (or catalog entry's) file names that make a Kokoro model."""
    return {"model.onnx", "voices.npz"} <= files


def voice_id(pack: str) -> str:
    """`jf_nezumi` -> `kokoro-nezumi`."""
    return ID_PREFIX + pack.split("_", 1)[-1]


class KokoroTTS:
    """Speaks with Kokoro's voice packs; the model is loaded on first use (or `load()`)."""

    speaks_by_clause = True  # a call's audio comes at once, ~0.4 s per second of speech: a
    # conversation hands it a clause at a time (text.SentenceSplitter's clause_chunks)

    def __init__(
        self,
        files: KokoroFiles,
        *,
        default_voice: str = "",
        threads: int = 0,
        release_memory: bool = True,
    ) -> None:
        self._files = files
        self._threads = threads
        self._release_memory = release_memory  # tts.release_memory: see onnx_sessions.py
        try:
            packs = sorted(np.load(files.voices).files)
        except (OSError, ValueError) as error:
            raise AssistantError(f"cannot read the Kokoro voices {files.voices}: {error}") from None
        known = [p for p in CHARACTERS if p in packs] + [p for p in packs if p not in CHARACTERS]
        self._packs = {voice_id(pack): pack for pack in known}
        self._default = default_voice if default_voice in self._packs else next(iter(self._packs))
        self._engine: Any = None
        self._mandarin: Any = None
        self._lock = threading.Lock()

    @property
    def default_voice(self) -> str:
        """The voice spoken when a request names none."""
        return self._default

    def voices(self) -> list[Voice]:
        return [
            Voice(
                id=voice,
                language="en",
                sample_rate=SAMPLE_RATE,
                languages=LANGUAGES,
                description=CHARACTERS.get(pack, f"{pack}: a Kokoro voice pack"),
            )
            for voice, pack in self._packs.items()
        ]

    def load(self) -> Any:
        """The loaded `kokoro_onnx.Kokoro` (loads it the first time)."""
        with self._lock:
            if self._engine is None:
                self._engine = _load(self._files, self._threads, self._release_memory)
            return self._engine

    def warm_up(self, languages: tuple[str, ...] = ("en",)) -> None:
        """Speak a word in each of `languages`, so the first reply pays no first-run costs."""
        for language in languages:
            for _ in self.synthesize(warm_up_text(language)):
                pass

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        speed: float = 1.0,
        instructions: str | None = None,
    ) -> Iterator[AudioChunk]:
        check_synthesis(text, speed, MAX_CHUNK_CHARS)
        name = voice or self._default
        if name not in self._packs:
            raise UnknownNameError("voice", name, list(self._packs))
        style = read_instructions(instructions)
        rate = min(max(speed * style.speed, SPEED_RANGE[0]), SPEED_RANGE[1])
        return styled(self._synthesize(text, self._packs[name], rate), style)

    def _synthesize(self, text: str, pack: str, speed: float) -> Iterator[AudioChunk]:
        """Clause by clause (`growing_pieces`): Kokoro makes a whole call's audio at once, at
        ~0.4 of its length on two cores, so a long sentence in one call kept the first audio
        (or, after a short first chunk, the next one) seconds away."""
        pieces = growing_pieces(text)
        for number, piece in enumerate(pieces):
            if not any(character.isalnum() for character in piece):
                continue  # only punctuation ("－", "-"): nothing to say; kokoro-onnx raises on it
            audio = self._create(piece, pack, speed)
            if not len(audio):
                continue
            if number < len(pieces) - 1:  # kokoro-onnx trims each call's end: its pause back
                pause = np.zeros(int(pause_after(piece) * SAMPLE_RATE), np.float32)
                audio = np.concatenate([audio, pause])
            yield AudioChunk.from_float32(audio, SAMPLE_RATE)

    def _create(self, text: str, pack: str, speed: float) -> np.ndarray:
        engine = self.load()
        if has_cjk(text):
            phonemes = self._mandarin_g2p(engine)(text)[0]
            audio, rate = engine.create(phonemes, voice=pack, speed=speed, is_phonemes=True)
        else:
            audio, rate = engine.create(text, voice=pack, speed=speed, lang="en-us")
        assert rate == SAMPLE_RATE, rate
        return np.asarray(audio, np.float32)

    def _mandarin_g2p(self, engine: Any) -> Any:
        if self._mandarin is None:
            import jieba
            from misaki import zh

            jieba.setLogLevel(logging.WARNING)
            english = lambda words: engine.tokenizer.phonemize(words, "en-us")  # noqa: E731
            self._mandarin = zh.ZHG2P(en_callable=english)
        return self._mandarin


def _load(files: KokoroFiles, threads: int, release_memory: bool) -> Any:
    import onnxruntime
    from kokoro_onnx import Kokoro

    logging.getLogger("kokoro_onnx").setLevel(logging.WARNING)
    try:
        session = open_voice_session(files.model, threads=threads, release_memory=release_memory)
        return Kokoro.from_session(session, str(files.voices))
    except (OSError, ValueError, onnxruntime.capi.onnxruntime_pybind11_state.Fail) as error:
        raise AssistantError(f"Kokoro could not load {files.model}: {error}") from None


def kokoro_models(store: ModelStore) -> dict[str, KokoroFiles]:
    """The downloaded Kokoro models: catalog name -> files."""
    found = {}
    for entry in store.catalog.by_role("tts"):
        if is_kokoro({f.name for f in entry.files}) and store.is_present(entry):
            directory = store.path(entry.name)
            found[entry.name] = KokoroFiles(directory / "model.onnx", directory / "voices.npz")
    return found


def create(config: Config, store: ModelStore) -> KokoroTTS:
    models = kokoro_models(store)
    if not models:
        raise UsageError(
            "no Kokoro model is downloaded: run `assistant models pull kokoro-82m-v1.0-int8`"
        )
    tts = KokoroTTS(
        next(iter(models.values())),
        default_voice=config.tts.voice,
        threads=config.tts.threads,
        release_memory=config.tts.release_memory,
    )
    tts.load()
    return tts
