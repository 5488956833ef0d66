"""Streaming voice activity detection with the Silero ONNX model shipped in faster-whisper."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AssistantError

VAD_RATE = 16000  # Hz
FRAME_SAMPLES = 512  # 32 ms at 16 kHz, what Silero expects
_CONTEXT_SAMPLES = 64


def silero_model_path() -> Path:
    from faster_whisper.utils import get_assets_path

    candidates = sorted(Path(get_assets_path()).glob("silero_vad*.onnx"))
    if not candidates:
        raise AssistantError(
            "faster-whisper's Silero VAD model is missing; reinstall faster-whisper"
        )
    return candidates[-1]


class SileroVAD:
    """Speech probability of consecutive 512-sample frames at 16 kHz; keeps the LSTM state."""

    frame_samples = FRAME_SAMPLES
    sample_rate = VAD_RATE

    def __init__(self, session) -> None:
        self._session = session
        self.reset()

    @classmethod
    def load(cls, path: Path | None = None) -> SileroVAD:
        """A VAD on the model at `path`; with none, on the session faster-whisper's own VAD
        filter runs (one Silero model in the process: each VAD keeps its own state)."""
        if path is None and (shared := _faster_whisper_session()) is not None:
            return cls(shared)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        session = onnxruntime.InferenceSession(
            str(path or silero_model_path()),
            providers=["CPUExecutionProvider"],
            sess_options=options,
        )
        return cls(session)

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """Probability in [0, 1] that `frame` (512 float32 samples, 16 kHz) holds speech."""
        window = np.concatenate([self._context, frame.astype(np.float32, copy=False)])[None, :]
        output, self._h, self._c = self._session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        self._context = window[0, -_CONTEXT_SAMPLES:]
        return float(np.asarray(output).reshape(-1)[0])


def _faster_whisper_session():
    """The ONNX Runtime session of faster-whisper's cached Silero model (loaded on first use),
    or None where that faster-whisper keeps no single session (before 1.2)."""
    from faster_whisper.vad import get_vad_model

    return getattr(get_vad_model(), "session", None)
