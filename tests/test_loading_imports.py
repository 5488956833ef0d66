"""Loading the stages side by side: the packages several loaders import parts of are imported
whole first, on the caller's thread (two threads importing `faster_whisper` and
`faster_whisper.utils` at once deadlocked in Python's import locks in a CI run)."""

from __future__ import annotations

import subprocess
import sys

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
