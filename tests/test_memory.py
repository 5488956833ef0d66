"""assistant.memory: the command line limits glibc's malloc arenas before any thread starts
(unless the user set MALLOC_ARENA_MAX), and freed heap memory is handed back."""

from __future__ import annotations

import os
import subprocess
import sys

from assistant.memory import release_freed

CHECK = "from assistant.memory import limit_arenas; print(limit_arenas())"


def _run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    return done.stdout.strip()


def test_arenas_are_limited_unless_the_user_chose_a_number():
    assert _run(CHECK) == "True"  # glibc (the project's platforms)
    assert _run(CHECK, MALLOC_ARENA_MAX="4") == "False"


def test_freed_memory_goes_back_to_the_system():
    code = (
        "from assistant.memory import release_freed\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20\n"
        "freed = [bytearray(1000) for _ in range(100_000)]\n"  # ~100 MB in malloc's heap
        "pinned = bytearray(1000)\n"  # above them: the heap's top cannot shrink by itself
        "del freed; before = rss()\n"
        "release_freed(); print(before, rss())\n"
    )
    before, after = map(int, _run(code).split())
    assert after < before - 50, (before, after)
    release_freed()  # and in this process, harmless
