"""Mandarin speech for the benchmark from the espeak-ng 1.52 library inside the espeakng-loader
wheel: Debian's espeak-ng 1.51 command reads Chinese characters as pinyin spelled out by its
English voice, which no speech-to-text model could be expected to hear as Chinese."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from ..audio.codec import write_wav
from ..errors import AssistantError
from ..types import AudioChunk

SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS
RATE_PARAMETER = 1  # espeak_PARAMETER: espeakRATE, words a minute
CHARACTER_POSITIONS, UTF8 = 1, 1  # espeak_POSITION_TYPE: POS_CHARACTER; flags: espeakCHARS_UTF8
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Library:
    """The loaded library, its sample rate and the buffer its callback fills (one at a time)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise AssistantError(
                "Mandarin benchmark speech needs espeak-ng 1.52 from the espeakng-loader wheel "
                "(pip install espeakng-loader); Debian's espeak-ng cannot read Chinese"
            ) from None
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.samples: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)  # kept referenced for as long as the library
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        self.rate = self.lib.espeak_Initialize(SYNCHRONOUS, 0, data_parent, 0)
        if self.rate <= 0:
            raise AssistantError("the espeak-ng 1.52 library (espeakng-loader) did not start")
        self.lib.espeak_SetSynthCallback(self.callback)
        self.lock = threading.Lock()

    def _collect(self, wave, count: int, events) -> int:
        if count > 0:
            self.samples.append(np.ctypeslib.as_array(wave, shape=(count,)).copy())
        return 0


_library: _Library | None = None


def synthesize(text: str, voice: str, rate: int, path: Path) -> None:
    """Write `text` spoken by espeak-ng 1.52's `voice` at `rate` words a minute to `path`."""
    global _library
    if _library is None:
        _library = _Library()
    library = _library
    with library.lock:
        library.samples.clear()
        if library.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AssistantError(f"espeak-ng 1.52 has no voice '{voice}'")
        library.lib.espeak_SetParameter(RATE_PARAMETER, rate, 0)
        data = text.encode("utf-8")
        library.lib.espeak_Synth(data, len(data) + 1, 0, CHARACTER_POSITIONS, 0, UTF8, None, None)
        library.lib.espeak_Synchronize()
        samples = np.concatenate(library.samples) if library.samples else np.zeros(0, np.int16)
    write_wav(path, AudioChunk(samples.astype("<i2").tobytes(), library.rate))
