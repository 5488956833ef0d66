"""Wake-word detection with microWakeWord models: 16 kHz int16 audio in, "heard" out.

The models (a .tflite file and a .json manifest each) come from the model store; the
pymicro-wakeword package runs them on its bundled TensorFlow Lite runtime (wheels for x86_64
and aarch64) with its own feature frontend (pymicro-features).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssistantError

WAKE_RATE = 16000  # Hz, what the models were trained on
STEP_BYTES = 320  # 10 ms of int16 audio at 16 kHz: one feature window step


@dataclass(frozen=True)
class WakeWordModel:
    """One wake word: its manifest, read from the model store."""

    name: str  # the file stem, e.g. hey_jarvis
    phrase: str  # what the user says, e.g. "Hey Jarvis"
    languages: tuple[str, ...]
    threshold: float  # the manifest's probability cutoff
    manifest: Path

    @classmethod
    def read(cls, manifest: Path) -> WakeWordModel:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            return cls(
                name=manifest.stem,
                phrase=str(data["wake_word"]),
                languages=tuple(data.get("trained_languages", ())),
                threshold=float(data["micro"]["probability_cutoff"]),
                manifest=manifest,
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AssistantError(
                f"wake-word manifest {manifest} is not readable ({error!r}); "
                "fetch it again: assistant models pull microwakeword"
            ) from None


class MicroWakeWordDetector:
    """Listens for one wake word in a stream of 16 kHz int16 mono audio."""

    sample_rate = WAKE_RATE

    def __init__(self, model: WakeWordModel, network, features) -> None:
        self.model = model
        self.phrase = model.phrase
        self._network = network  # pymicro_wakeword.MicroWakeWord: the TFLite interpreter
        self._features = features  # pymicro_wakeword.MicroWakeWordFeatures: the frontend
        self._pending = b""

    @classmethod
    def load(cls, model: WakeWordModel) -> MicroWakeWordDetector:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        try:
            network = MicroWakeWord.from_config(model.manifest)
        except (OSError, ValueError, RuntimeError) as error:
            raise AssistantError(
                f"wake-word model {model.name} could not be loaded ({error}); fetch it again: "
                "assistant models pull microwakeword"
            ) from None
        return cls(model, network, MicroWakeWordFeatures())

    def detect(self, pcm: bytes) -> int | None:
        """Feed audio in order; the byte offset in `pcm` just after the wake word when it was
        heard in it, else None."""
        carried = len(self._pending)  # the part of a step left over from the last call
        data = self._pending + pcm
        offset = 0
        while offset + STEP_BYTES <= len(data):
            step = data[offset : offset + STEP_BYTES]
            offset += STEP_BYTES
            for features in self._features.process_streaming(step):
                if self._network.process_streaming(features):
                    self._pending = b""
                    return max(0, offset - carried)
        self._pending = data[offset:]
        return None

    def reset(self) -> None:
        """Forget what was heard (after a detection, or before listening again)."""
        self._network.reset()
        self._features.reset()
        self._pending = b""
