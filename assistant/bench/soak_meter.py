"""What one soak turn cost besides its wall-clock time, so that latency drift can be told apart
from a busy machine: this process's CPU time, the CPU time of each of its threads (grouped by
the Python thread's name; threads Python did not start, such as llama.cpp's, CTranslate2's and
onnxruntime's workers, by their native name as "native:NAME"), and llama.cpp's own counters:
prompt tokens evaluated (a turn that re-evaluates the whole prompt shows hundreds instead of a
few dozen), tokens generated and the milliseconds spent on each.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_POOL_SUFFIX = re.compile(r"_\d+$")  # ThreadPoolExecutor numbers its threads: assistant-llm_0
LLAMA_FIELDS = ("n_p_eval", "n_eval", "t_p_eval_ms", "t_eval_ms")


def process_cpu_s() -> float:
    """User plus system CPU seconds of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds of this process's live threads, summed by thread name (see module doc)."""
    names = {t.native_id: _POOL_SUFFIX.sub("", t.name) for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            comm, stat = (task / "stat").read_text().split("(", 1)[1].rsplit(")", 1)
            fields = stat.split()
            seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            name = names.get(int(task.name)) or f"native:{comm}"
            totals[name] = totals.get(name, 0.0) + seconds
    return totals


def llama_counters(chat: Any) -> dict[str, float] | None:
    """llama.cpp's running performance counters of the chat model's context (None when the model
    is not a local llama.cpp one)."""
    llm = getattr(chat, "llama", None)
    context = getattr(getattr(llm, "_ctx", None), "ctx", None)
    if context is None:
        return None
    import llama_cpp

    data = llama_cpp.llama_perf_context(context)
    return {field: getattr(data, field) for field in LLAMA_FIELDS}


@dataclass(frozen=True)
class Reading:
    cpu_s: float
    threads: dict[str, float]
    llama: dict[str, float] | None


class TurnMeter:
    """Readings before and after a turn; `cost` gives the difference."""

    def __init__(self, chat: Any) -> None:
        self._chat = chat

    def read(self) -> Reading:
        return Reading(process_cpu_s(), thread_cpu_s(), llama_counters(self._chat))

    def cost(self, before: Reading) -> dict:
        """The turn's CPU seconds (process, by thread) and llama.cpp work since `before`."""
        after = self.read()
        threads = {
            name: round(seconds - before.threads.get(name, 0.0), 3)
            for name, seconds in sorted(after.threads.items())
        }  # a thread that ended during the turn is not counted by name: the process total is
        cost = {
            "cpu_s": round(after.cpu_s - before.cpu_s, 3),
            "thread_cpu_s": {name: s for name, s in threads.items() if s > 0},
        }
        if (held := getattr(self._chat, "tokens_in_context", None)) is not None:
            cost["context_tokens"] = held  # what every new token attends over
        if after.llama is not None and before.llama is not None:
            delta = {f: after.llama[f] - before.llama[f] for f in LLAMA_FIELDS}
            cost |= {
                "prompt_tokens_evaluated": int(delta["n_p_eval"]),
                "tokens_generated": int(delta["n_eval"]),
                "prompt_eval_ms": round(delta["t_p_eval_ms"], 1),
                "generate_ms": round(delta["t_eval_ms"], 1),
            }
        return cost
