"""ONNX Runtime sessions for the voices (Piper, Kokoro): their options in one place, and the
choice to hand each synthesis's working memory back (`tts.release_memory`).

ONNX Runtime serves a run's tensors from an arena that grows to fit the largest run so far and
never shrinks: after a long sentence, Piper holds ~170 MB more until the process ends, and the
next transcription's working memory comes on top of it (the tiny tier's peak). With arena
shrinkage after each run, what a run grew is returned as it ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import threads_for

# ONNX Runtime's run option: free the CPU arena's extensions (all but its first region) after a run
ARENA_SHRINKAGE = ("memory.enable_memory_arena_shrinkage", "cpu:0")


class ReleasingSession:
    """An `onnxruntime.InferenceSession` whose every run hands the arena it grew back; anything
    else is the session's own (inputs, outputs, metadata)."""

    def __init__(self, session: Any, run_options: Any) -> None:
        self._session = session
        self.run_options = run_options

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        return self._session.run(output_names, input_feed, run_options or self.run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def open_voice_session(path: Path, *, threads: int, release_memory: bool) -> Any:
    """A CPU session for a voice model: `threads` for its operators (0: one per core), one for
    the graph; with `release_memory`, a `ReleasingSession`. Raises what onnxruntime raises."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads_for(threads)
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    if not release_memory:
        return session
    run_options = onnxruntime.RunOptions()
    run_options.add_run_config_entry(*ARENA_SHRINKAGE)
    return ReleasingSession(session, run_options)
