"""The Wyoming round trips, as Home Assistant makes them: `assistant wyoming` started as its own
process on a free loopback port, and the wyoming package's client (Home Assistant's) sending each
benchmark utterance (transcribe, audio-start, audio-chunks, audio-stop) and then asking for its
text to be spoken, whole (synthesize) and streamed (synthesize-start/-chunk/-stop).

Timed from the client: audio-stop -> transcript (what the user waits for once the satellite has
found the end of speech); synthesize -> first audio-chunk and -> audio-stop; the streamed
request from its synthesize-start to its first audio-chunk.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .corpus import Utterance, word_error_rate
from .stats import summary

START_TIMEOUT_S = 180  # loading and warming the models on a busy machine
SAMPLES_PER_CHUNK = 1024  # per audio-chunk sent (64 ms at 16 kHz)
READY = re.compile(r"Wyoming server on tcp://127\.0\.0\.1:(\d+)")


def run_wyoming_trips(
    utterances: list[Utterance],
    *,
    iterations: int,
    cli_args: list[str],
    say: Callable[[str], None],
) -> dict:
    """The round trips' p50/p95 (ms) over `iterations` x `utterances`, and how well the spoken
    answers are heard back (word error rate of the transcripts)."""
    assistant = str(Path(sys.executable).parent / "assistant")
    with tempfile.TemporaryDirectory(prefix="bench-wyoming-") as tmp:
        log = Path(tmp) / "wyoming.log"
        command = [assistant, *cli_args, "wyoming", "--no-llm", "--uri", "tcp://127.0.0.1:0"]
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            port = _wait_ready(process, log)
            say(f"wyoming: {len(utterances)} utterances x {iterations} on port {port}")
            timings = asyncio.run(_measure(port, utterances, iterations))
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {
        "transcript_after_audio_stop_ms": summary(timings["transcript"]),
        "synthesis_first_audio_ms": summary(timings["first_audio"]),
        "synthesis_done_ms": summary(timings["synthesized"]),
        "streamed_first_audio_ms": summary(timings["streamed_first_audio"]),
        "transcript_wer": round(sum(timings["wer"]) / max(len(timings["wer"]), 1), 3),
        "n": len(timings["transcript"]),
    }


def _wait_ready(process: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"assistant wyoming exited: {log.read_text()}")
        if found := READY.search(log.read_text(errors="replace")):
            return int(found.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"assistant wyoming did not start in time: {log.read_text()}")


async def _measure(port: int, utterances: list[Utterance], iterations: int) -> dict[str, list]:
    from wyoming.client import AsyncTcpClient

    timings: dict[str, list] = {
        k: [] for k in ("transcript", "first_audio", "synthesized", "streamed_first_audio", "wer")
    }
    for _ in range(iterations):
        for utterance in utterances:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                heard, after_stop = await _transcribe(client, utterance)
                timings["transcript"].append(after_stop)
                timings["wer"].append(word_error_rate(heard, utterance.text))
                first, done = await _synthesize(client, utterance.text)
                timings["first_audio"].append(first)
                timings["synthesized"].append(done)
                timings["streamed_first_audio"].append(await _stream(client, utterance.text))
    return timings


async def _transcribe(client, utterance: Utterance) -> tuple[str, float]:
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart, AudioStop

    audio = utterance.audio
    await client.write_event(Transcribe(language="en").event())
    await client.write_event(AudioStart(audio.sample_rate, 2, 1).event())
    step = SAMPLES_PER_CHUNK * 2
    for at in range(0, len(audio.pcm), step):
        chunk = AudioChunk(audio.sample_rate, 2, 1, audio.pcm[at : at + step])
        await client.write_event(chunk.event())
    sent = time.perf_counter()
    await client.write_event(AudioStop().event())
    event = await _until(client, "transcript")
    return event.data["text"], _ms(sent)


async def _synthesize(client, text: str) -> tuple[float, float]:
    from wyoming.tts import Synthesize

    sent = time.perf_counter()
    await client.write_event(Synthesize(text).event())
    await _until(client, "audio-chunk")
    first = _ms(sent)
    await _until(client, "audio-stop")
    return first, _ms(sent)


async def _stream(client, text: str) -> float:
    """The text streamed in two halves, as a language model writes it; timed from the start."""
    from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop

    half = len(text) // 2
    sent = time.perf_counter()
    await client.write_event(SynthesizeStart().event())
    await client.write_event(SynthesizeChunk(text[:half]).event())
    await client.write_event(SynthesizeChunk(text[half:]).event())
    await client.write_event(SynthesizeStop().event())
    await _until(client, "audio-chunk")
    first = _ms(sent)
    await _until(client, "synthesize-stopped")
    return first


async def _until(client, kind: str):
    while (event := await client.read_event()) is not None:
        if event.type == "error":
            raise RuntimeError(f"the Wyoming server answered an error: {event.data}")
        if event.type == kind:
            return event
    raise RuntimeError("the Wyoming server closed the connection")


def _ms(since: float) -> float:
    return round(1000 * (time.perf_counter() - since), 1)


def table(results: dict) -> str:
    """The results as a Markdown table."""
    rows = [
        ("transcription: audio-stop -> transcript", "transcript_after_audio_stop_ms"),
        ("synthesis: synthesize -> first audio-chunk", "synthesis_first_audio_ms"),
        ("synthesis: synthesize -> audio-stop", "synthesis_done_ms"),
        ("streamed synthesis: synthesize-start -> first audio", "streamed_first_audio_ms"),
    ]
    lines = ["| Wyoming round trip | p50 ms | p95 ms | n |", "|---|---|---|---|"]
    for label, key in rows:
        value = results[key]
        lines.append(f"| {label} | {value['p50']} | {value['p95']} | {value['n']} |")
    lines.append(f"\ntranscript word error rate: {results['transcript_wer']}")
    return "\n".join(lines) + "\n"


def write(results: dict, output: Path) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output / "wyoming.json", output / "wyoming.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(table(results))
    return json_path, md_path
