"""Semantic end of turn with Pipecat's Smart Turn v3 ONNX model: from the audio of a turn so far
(16 kHz), the probability that the speaker has finished. It reads the last 8 s as Whisper log-mel
features (faster-whisper's own extractor), left-padded with silence when shorter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..types import AudioChunk
from .codec import resample

TURN_RATE = 16000  # Hz, what the model reads
WINDOW_SECONDS = 8  # the model reads at most the last 8 s
_NORMALISE_EPS = 1e-7  # as the Whisper feature extractor's zero-mean unit-variance step


class SmartTurn:
    """`probability(audio)`: how sure the model is that the turn is complete (0..1)."""

    def __init__(self, session) -> None:
        from faster_whisper.feature_extractor import FeatureExtractor

        self._session = session
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_SECONDS)

    @classmethod
    def load(cls, path: Path, threads: int = 1) -> SmartTurn:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.log_severity_level = 4
        options.enable_cpu_mem_arena = False  # an arena keeps ~25 MB after a run; no faster
        session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"], sess_options=options
        )
        return cls(session)

    def features(self, audio: AudioChunk) -> np.ndarray:
        """The model's input: (80, 800) log-mel features of the last 8 s, normalised first."""
        samples = resample(audio, TURN_RATE).to_float32()
        window = TURN_RATE * WINDOW_SECONDS
        samples = samples[-window:]
        samples = np.pad(samples, (window - len(samples), 0))  # silence before a short turn
        samples = (samples - samples.mean()) / np.sqrt(samples.var() + _NORMALISE_EPS)
        return self._features(samples.astype(np.float32), padding=0)

    def probability(self, audio: AudioChunk) -> float:
        """Probability that the speaker of `audio` (the turn so far, any rate) has finished."""
        features = self.features(audio)[None, :, :].astype(np.float32)
        (output,) = self._session.run(None, {"input_features": features})
        return float(np.asarray(output).reshape(-1)[0])

    def warm_up(self) -> None:
        self.probability(AudioChunk(bytes(2 * TURN_RATE), TURN_RATE))
