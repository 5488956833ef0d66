"""The process's C heap (glibc's malloc), kept small: few arenas, and freed memory handed back
to the system after each turn.

glibc gives each thread that allocates under contention its own arena (up to 8 per core), and
memory freed in an arena stays in the process; the engines' threads (Whisper, llama.cpp, ONNX
Runtime, the event loop, the workers) each leave a few tens of MB there. Two arenas, and a
`malloc_trim` after each transcription, after each chunk's synthesis (what the voice's arena
gave back) and once a reply is done, lower the memory held between turns (485 -> 464 MB after
loading, tiny tier) and under the next stage's working memory (README, Performance: the tiny
tier's peak memory). A MALLOC_ARENA_MAX in the environment is
the user's choice and is left alone; on a C library without these calls (musl, macOS) nothing
is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2  # malloc arenas for the whole process
M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most `arenas` malloc arenas; call before the engines start their threads. True when
    set here."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_freed() -> None:
    """Hand the heap's free memory back to the system (after a turn, off its critical path)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def heap_usage() -> tuple[int, int] | None:
    """The C heap's bytes in use and bytes held from the system (glibc's mallinfo2; None on
    another C library): held far above in use is fragmentation, in use growing is a leak."""
    mallinfo2 = getattr(_LIBC, "mallinfo2", None)
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd, info.arena + info.hblkhd
