"""Cold start: a fresh process from exec to ready to listen, and its peak resident memory.

`assistant bench --cold-start-probe` is that process: it loads what `assistant talk` loads
(the three engines and the VAD), warms them as talk does, prints one JSON line saying it is
ready, then answers the benchmark's questions (three with --quick) as one conversation with
the configured reply length, so that the peak memory covers a conversation too, and exits.
The parent times exec to the ready line and reads the child's peak resident set (wait4()).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

READY = "ready"


def probe(config, system_prompt: str, corpus_dir: Path, texts: tuple[str, ...]) -> None:
    """The child's side (runs in the probe process)."""
    before = _since_exec()
    from ..conversation.options import ConversationOptions
    from ..providers.loading import load_conversation_engines

    started = time.monotonic()  # the warm-up caches the prompt the first turn sends (persona)
    warm = ConversationOptions(system_prompt).first_system_prompt
    engines, vad = load_conversation_engines(config, warm)
    ready = {"python_and_cli_s": before, "load_and_warm_s": round(time.monotonic() - started, 3)}
    print(json.dumps({READY: True, **ready}), flush=True)
    from ..conversation.events import TurnTimings
    from ..conversation.reply import Reply, ReplySettings, Stages, Workers
    from ..conversation.sinks import CollectingSink
    from ..types import ChatMessage
    from .corpus import make_corpus

    history = [ChatMessage("system", system_prompt)]
    stages, workers = Stages(engines.stt, engines.chat, engines.tts), Workers()
    turns = []
    for utterance in make_corpus(corpus_dir, texts):  # a conversation, for the peak memory
        now = time.monotonic()
        reply = Reply(
            stages, workers, utterance.audio, history=history, sink=CollectingSink(),
            settings=ReplySettings(), timings=TurnTimings(speech_end=now, endpoint=now),
        )  # fmt: skip
        if (record := reply.run_blocking()) is not None:
            history.extend(record.messages())
            turns.append(record.timings)
    workers.shutdown()
    del vad
    first_turn = _stage_times(turns[0]) if turns else {}
    print(json.dumps({"turns": len(turns), "first_turn": first_turn}), flush=True)


def _stage_times(timings) -> dict[str, float]:
    """Each engine's own share of a turn: STT, the model's first token, the first audio."""
    spans = {
        "stt_ms": (timings.speech_end, timings.transcript),
        "first_token_ms": (timings.transcript, timings.first_token),
        "first_audio_ms": (timings.first_sentence, timings.first_audio),
    }
    return {
        name: round(1000 * (end - start), 1)
        for name, (start, end) in spans.items()
        if start is not None and end is not None
    }


def _since_exec() -> float | None:
    """Seconds since this process was started (10 ms resolution), from /proc."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)


def measure(
    cli_args: list[str],
    corpus_dir: Path,
    quick: bool,
    timeout: float = 300.0,
    bench_args: tuple[str, ...] = (),
) -> dict:
    """The parent's side: run the probe (`bench_args`: more options of `assistant bench`, e.g.
    --quality); seconds to ready, and its peak RSS in MB."""
    command = [sys.executable, "-m", "assistant", *cli_args, "bench", "--cold-start-probe",
               *bench_args, "--output", str(corpus_dir.parent)]  # fmt: skip
    command += ["--quick"] if quick else []
    with tempfile.TemporaryFile("w+") as errors:
        start = time.monotonic()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        ready_at, found = None, {}
        assert child.stdout is not None
        for line in child.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.pop(READY, False):
                ready_at = time.monotonic()
            found.update(message)
        _, status, usage = os.wait4(child.pid, 0)
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
    if ready_at is None or child.returncode != 0:
        raise RuntimeError(
            f"the cold-start probe failed ({exit_status(child.returncode)}): "
            f"{stderr.strip()[-2000:]}"
        )
    return {
        "ready_s": round(ready_at - start, 3),
        **found,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
    }


def exit_status(code: int) -> str:
    """`exit 1`, or the signal that killed the process (`killed by SIGSEGV`)."""
    if code >= 0:
        return f"exit {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"
