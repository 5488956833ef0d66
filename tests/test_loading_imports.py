"""Loading the stages side by side: the packages several loaders import parts of are imported
whole first, on the caller's thread (two threads importing `faster_whisper` and
`faster_whisper.utils` at once deadlocked in Python's import locks in a CI run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHECK = """
import sys
from concurrent import futures
from assistant.config import load_config
from assistant.providers import loading

def submit(self, fn, *args, **kwargs):
    ready = all(name in sys.modules for name in
                ("faster_whisper", "faster_whisper.utils", "faster_whisper.feature_extractor"))
    raise SystemExit(0 if ready else 3)

futures.ThreadPoolExecutor.submit = submit
assert "faster_whisper" not in sys.modules
loading.{call}
"""


def check(call: str) -> int:
    script = CHECK.format(call=call)
    return subprocess.run([sys.executable, "-c", script], timeout=120, check=False).returncode


def test_a_conversation_imports_whisper_before_its_loader_threads_start():
    assert check('load_conversation_engines(load_config(), "Be brief.")') == 0


def test_loading_speech_to_text_imports_whisper_before_its_loader_threads_start():
    assert check("load_engines(load_config(), stt=True, turn=True)") == 0


THREADS_AFTER_NUMPY = """
import os
import assistant
import numpy as np
np.ones((256, 256)) @ np.ones((256, 256))  # a product big enough for OpenBLAS to share out
print(len(os.listdir("/proc/self/task")))
"""


def threads_after_numpy(**env: str) -> int:
    clean = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    run = subprocess.run(
        [sys.executable, "-c", THREADS_AFTER_NUMPY], env={**clean, **env},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return int(run.stdout)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in Linux /proc")
def test_numpy_computes_on_the_callers_thread_alone():
    """OpenBLAS's own threads spun, un-niced, after each small product (the end-of-turn
    model's features) beside Whisper and llama.cpp: the package keeps it to one thread."""
    assert threads_after_numpy() == 1
    if (os.cpu_count() or 1) > 1:  # a user's own setting still counts
        assert threads_after_numpy(OPENBLAS_NUM_THREADS="2") == 2
