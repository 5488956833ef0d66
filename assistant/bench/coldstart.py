"""Cold start: a fresh process from exec to ready to listen, and its peak resident memory.

`assistant bench --cold-start-probe` is that process: it loads what `assistant talk` loads
(the three engines and the VAD), warms them as talk does, prints one JSON line saying it is
ready, then answers one spoken question through the engines, so that the peak memory covers a
turn as well, and exits. The parent times exec to the ready line and reads the child's peak
resident set from wait4().
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

READY = "ready"


def probe(config, system_prompt: str, corpus_dir: Path) -> None:
    """The child's side (runs in the probe process)."""
    before = _since_exec()
    from ..engines import load_conversation_engines

    started = time.monotonic()
    engines, vad = load_conversation_engines(config, system_prompt)
    ready = {"python_and_cli_s": before, "load_and_warm_s": round(time.monotonic() - started, 3)}
    print(json.dumps({READY: True, **ready}), flush=True)
    from ..text import speakable_chunks
    from ..types import ChatMessage
    from .corpus import QUICK_TEXTS, make_corpus

    [utterance] = make_corpus(corpus_dir, QUICK_TEXTS[:1])
    heard = engines.stt.transcribe(utterance.audio).text
    messages = [ChatMessage("system", system_prompt), ChatMessage("user", heard)]
    reply = "".join(engines.chat.stream_chat(messages))
    for sentence in speakable_chunks(reply):
        for _ in engines.tts.synthesize(sentence):
            pass
    del vad
    print(json.dumps({"turn": True, "heard": heard}), flush=True)


def _since_exec() -> float | None:
    """Seconds since this process was started (10 ms resolution), from /proc."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)


def measure(cli_args: list[str], corpus_dir: Path, timeout: float = 120.0) -> dict:
    """The parent's side: run the probe; seconds to ready, and its peak RSS in MB."""
    command = [
        sys.executable,
        "-m",
        "assistant",
        *cli_args,
        "bench",
        "--cold-start-probe",
        "--output",
        str(corpus_dir.parent),
    ]
    start = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready_at, phases, lines = None, {}, []
    assert child.stdout is not None
    deadline = start + timeout
    for line in child.stdout:
        lines.append(line)
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get(READY):
            ready_at = time.monotonic()
            phases = {k: v for k, v in message.items() if k != READY}
        if time.monotonic() > deadline:
            child.kill()
            break
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read() if child.stderr else ""
    if ready_at is None or child.returncode != 0:
        raise RuntimeError(
            f"the cold-start probe failed (exit {child.returncode}): {stderr.strip()[-2000:]}"
        )
    return {
        "ready_s": round(ready_at - start, 3),
        **phases,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
    }
