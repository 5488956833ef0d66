"""`assistant wyoming` run for real on a loopback port, driven by the wyoming package's own
client (what Home Assistant uses): describe, speech to text in English and Chinese, speech
(whole and streamed) that transcribes back to its text, wake words heard in streamed speech, a
conversation over two transcripts, bad events answered with `error` while the server goes on
serving, and three clients at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import word_error_rate, words
from serving import ASSISTANT, clean_env, free_port, stop_process
from test_chinese import mandarin
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop, wav_to_chunks
from wyoming.client import AsyncTcpClient, AsyncUnixClient
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)
from wyoming.wake import Detect, Detection

from assistant.audio.codec import concat, silence
from assistant.bench.corpus import QUICK_TEXTS, make_corpus
from assistant.bench.wyoming_trip import run_wyoming_trips, table
from assistant.cli.main import cli
from assistant.types import AudioChunk as Audio
from assistant.wyoming.server import Address, check_address

START_TIMEOUT_S = 180
READ_TIMEOUT_S = 120
SPOKEN = "The weather is sunny today. We can walk to the park after lunch."
WAKE_WORDS = ["alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"]
PIPER = SynthesizeVoice(name="en_US-joe-medium")  # microWakeWord hears "Hey Jarvis" in its voice


@dataclass(frozen=True)
class Running:
    port: int
    database: Path  # its history


@pytest.fixture(scope="module")
def wyoming(tmp_path_factory) -> Iterator[Running]:
    """`assistant wyoming` with the multilingual speech to text (whisper-base, so Chinese is
    heard too) and greedy decoding (a repeatable conversation), until the module is done."""
    tmp = tmp_path_factory.mktemp("wyoming")
    port = free_port()
    settings = ("--set", "stt.language=auto", "--set", "llm.temperature=0")
    with started(tmp, *settings, "wyoming", "--uri", f"tcp://127.0.0.1:{port}"):
        yield Running(port, tmp / "history.db")


@contextlib.contextmanager
def started(tmp: Path, *args: str) -> Iterator[None]:
    """`assistant ARGS...` until it says where it listens; then SIGTERM must end it cleanly."""
    log = tmp / "wyoming.log"
    with log.open("wb") as output:
        env = {**clean_env(tmp), "ASSISTANT_HISTORY_PATH": str(tmp / "history.db")}
        process = subprocess.Popen(
            [ASSISTANT, *args], stdout=output, stderr=subprocess.STDOUT, env=env
        )
    try:
        _wait_ready(process, log)
        yield
        assert process.poll() is None, f"the server died: {log.read_text()}"
    finally:
        stop_process(process)
    assert process.returncode == 0 and "Traceback" not in log.read_text(), log.read_text()


def _wait_ready(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"assistant wyoming exited: {log.read_text()}")
        if "Wyoming server on " in log.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"assistant wyoming did not start in time: {log.read_text()}")


def run(coroutine):
    return asyncio.run(coroutine)


@contextlib.asynccontextmanager
async def connected(port: int):
    async with AsyncTcpClient("127.0.0.1", port, read_timeout=READ_TIMEOUT_S) as client:
        yield client


async def read_until(client: AsyncTcpClient, *types: str) -> list[Event]:
    """Events up to and including the first of `types` (an error ends it too)."""
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, f"the server closed the connection after {events}"
        events.append(event)
        if event.type in (*types, "error"):
            return events


async def transcribe(port: int, wav: Path, language: str | None = None) -> list[Event]:
    async with connected(port) as client:
        await client.write_event(Transcribe(language=language).event())
        with wave.open(str(wav), "rb") as reader:
            for part in wav_to_chunks(reader, 1024, start_event=True, stop_event=True):
                await client.write_event(part.event())
        return await read_until(client, "transcript")


def audio_of(events: list[Event]) -> Audio:
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    assert chunks, [e.type for e in events]
    assert {(c.width, c.channels) for c in chunks} == {(2, 1)}
    return Audio(b"".join(c.audio for c in chunks), chunks[0].rate)


# --- describe ---------------------------------------------------------------------------------


def test_describe_lists_every_program_model_and_voice(wyoming):
    async def ask():
        async with connected(wyoming.port) as client:
            await client.write_event(Describe().event())
            return await read_until(client, "info")

    info = Info.from_event(run(ask())[-1])
    (asr,) = info.asr
    assert asr.supports_transcript_streaming and asr.installed
    (model,) = asr.models
    assert model.name == "whisper-base" and {"en", "zh"} <= set(model.languages)
    assert "MIT" in model.description and model.attribution.url.endswith("faster-whisper-base")
    assert model.version  # the installed weights' sha256 prefix
    (tts,) = info.tts
    assert tts.supports_synthesize_streaming
    voices = {voice.name: voice for voice in tts.voices}
    assert "en_US-joe-medium" in voices and "en" in voices["en_US-joe-medium"].languages
    kokoro = [voice for name, voice in voices.items() if name.startswith("kokoro-")]
    assert kokoro and all("zh" in v.languages and "Apache" in v.description for v in kokoro)
    assert all(v.attribution.name and v.version and "licence" in v.description
               for v in voices.values())  # fmt: skip
    (handle,) = info.handle
    assert handle.models[0].name == "smollm2-135m-instruct"
    (wake,) = info.wake
    assert [model.name for model in wake.models] == WAKE_WORDS
    jarvis = wake.models[1]
    assert jarvis.phrase == jarvis.description == "Hey Jarvis" and jarvis.languages == ["en"]
    assert jarvis.attribution.name == "microWakeWord (licence Apache-2.0)" and jarvis.installed
    assert jarvis.version  # the model's sha256 prefix


# --- speech to text ---------------------------------------------------------------------------


def test_english_speech_is_transcribed_with_streamed_parts(wyoming, question_wav):
    events = run(transcribe(wyoming.port, question_wav, language="en"))
    kinds = [e.type for e in events]
    assert kinds[0] == "transcript-start" and kinds[-2:] == ["transcript-stop", "transcript"]
    transcript = Transcript.from_event(events[-1])
    assert {"romeo", "juliet"} <= set(words(transcript.text)), transcript.text
    streamed = "".join(e.data["text"] for e in events if e.type == "transcript-chunk")
    assert streamed == transcript.text and transcript.language == "en"


def test_chinese_speech_is_heard_in_chinese(wyoming, tmp_path):
    question = mandarin("我想喝一杯热茶，你呢？", tmp_path / "question.wav")
    transcript = Transcript.from_event(run(transcribe(wyoming.port, question))[-1])
    assert transcript.language == "zh" and "喝" in transcript.text, transcript


# --- text to speech ---------------------------------------------------------------------------


def test_synthesized_speech_transcribes_back(wyoming, stt):
    async def speak():
        async with connected(wyoming.port) as client:
            voice = SynthesizeVoice(name="en_US-joe-medium")
            await client.write_event(Synthesize(SPOKEN, voice=voice).event())
            return await read_until(client, "audio-stop")

    events = run(speak())
    assert events[0].type == "audio-start" and events[-1].type == "audio-stop"
    audio = audio_of(events)
    assert audio.sample_rate == 22050
    assert word_error_rate(stt.transcribe(audio).text, SPOKEN) <= 0.2


def test_streamed_synthesis_speaks_each_sentence_as_it_arrives(wyoming, stt):
    pieces = ["The weather is sun", "ny today. We can walk", " to the park after lunch."]

    async def speak():
        async with connected(wyoming.port) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(pieces[0]).event())
            await client.write_event(SynthesizeChunk(pieces[1]).event())
            first = await read_until(client, "audio-stop")  # the first sentence, already
            await client.write_event(SynthesizeChunk(pieces[2]).event())
            # Home Assistant also sends the whole text, for servers that do not stream
            await client.write_event(Synthesize("".join(pieces)).event())
            await client.write_event(SynthesizeStop().event())
            return first, await read_until(client, "synthesize-stopped")

    first, rest = run(speak())
    assert first[0].type == "audio-start"
    assert sum(e.type == "audio-start" for e in rest) == 1  # the second sentence, once
    sentence = stt.transcribe(audio_of(first)).text
    assert word_error_rate(sentence, "The weather is sunny today.") <= 0.2, sentence
    heard = stt.transcribe(audio_of(first + rest)).text
    assert word_error_rate(heard, SPOKEN) <= 0.2, heard


# --- wake words -------------------------------------------------------------------------------


async def spoken(client: AsyncTcpClient, text: str) -> Audio:
    """`text` in the server's own Piper voice (22050 Hz), after half a second of silence."""
    await client.write_event(Synthesize(text, voice=PIPER).event())
    speech = audio_of(await read_until(client, "audio-stop"))
    return concat([silence(0.5, speech.sample_rate), speech])


async def stream(client: AsyncTcpClient, audio: Audio, clock_ms: int = 0) -> None:
    """`audio` as a satellite sends it: audio-start, chunks timestamped from `clock_ms`,
    audio-stop."""
    rate, step = audio.sample_rate, 2 * 1024
    await client.write_event(AudioStart(rate, 2, 1, timestamp=clock_ms).event())
    for at in range(0, len(audio.pcm), step):
        milliseconds = clock_ms + at // 2 * 1000 // rate
        await client.write_event(AudioChunk(rate, 2, 1, audio.pcm[at : at + step],
                                            timestamp=milliseconds).event())  # fmt: skip
    await client.write_event(AudioStop(timestamp=clock_ms + int(audio.seconds * 1000)).event())


async def answers_to_the_stream(client: AsyncTcpClient) -> list[Event]:
    """What the server sent about a stream: everything up to the `info` of a describe sent
    after its audio-stop (so an absent `not-detected` is seen to be absent)."""
    await client.write_event(Describe().event())
    return (await read_until(client, "info"))[:-1]


def test_the_wake_word_is_detected_each_time_it_is_said(wyoming):
    async def listen():
        async with connected(wyoming.port) as client:
            woken = await spoken(client, "Hey Jarvis, what time is it?")
            await client.write_event(Detect(names=["hey_jarvis", "Okay Nabu"]).event())
            # the second time after the refractory period (2 s after the first detection)
            twice = concat([woken, silence(1.0, woken.sample_rate), woken])
            await stream(client, twice, clock_ms=60_000)  # a minute into the satellite's audio
            return woken, await answers_to_the_stream(client)

    woken, answers = run(listen())
    assert [e.type for e in answers] == ["detection", "detection"], answers  # no not-detected
    first, second = (Detection.from_event(e) for e in answers)
    assert first.name == second.name == "hey_jarvis"
    assert 60_800 < first.timestamp < 62_000, first  # after "Hey Jarvis", before the question
    repeat_ms = round((woken.seconds + 1.0) * 1000)
    assert abs(second.timestamp - first.timestamp - repeat_ms) < 300, (first, second, repeat_ms)


def test_speech_without_the_wake_word_is_not_detected_then_transcribed(wyoming):
    """detect, then transcribe on the same connection: each audio stream goes where asked."""

    async def listen():
        async with connected(wyoming.port) as client:
            question = await spoken(client, "What time is it?")
            await client.write_event(Detect(names=["hey_jarvis"]).event())
            await stream(client, question)
            answers = await answers_to_the_stream(client)
            await client.write_event(Transcribe(language="en").event())
            await stream(client, question)
            return answers, (await read_until(client, "transcript"))[-1]

    answers, transcript = run(listen())
    assert [e.type for e in answers] == ["not-detected"], answers
    assert {"what", "time"} <= set(words(Transcript.from_event(transcript).text)), transcript


def test_a_satellite_streaming_stereo_chunks_without_audio_start_is_heard(wyoming):
    """wyoming-satellite sends `detect`, then its microphone's chunks (here stereo, without
    timestamps: the detection is timed from the first chunk)."""

    async def listen():
        async with connected(wyoming.port) as client:
            woken = await spoken(client, "Hey Jarvis, what time is it?")
            await client.write_event(Detect(names=["hey_jarvis"]).event())
            samples = np.frombuffer(woken.pcm, dtype="<i2")
            stereo = np.repeat(samples, 2).tobytes()
            step = 4 * 512  # 512 frames of two samples
            for at in range(0, len(stereo), step):
                chunk = AudioChunk(woken.sample_rate, 2, 2, stereo[at : at + step])
                await client.write_event(chunk.event())
            return (await read_until(client, "detection"))[-1]

    detection = Detection.from_event(run(listen()))
    assert detection.name == "hey_jarvis" and 800 < detection.timestamp < 2000, detection


# --- conversation agent -----------------------------------------------------------------------


def test_a_conversation_remembers_its_first_turn(wyoming):
    async def talk():
        answers = []
        for said in ("My name is Ada.", "What is my name?"):
            async with connected(wyoming.port) as client:  # a connection per request, as HA
                context = {"conversation_id": "kitchen-1"}
                await client.write_event(Transcript(said, context=context).event())
                answers.append((await read_until(client, "handled", "not-handled"))[-1])
        return answers

    first, second = run(talk())
    assert first.type == second.type == "handled", (first, second)
    assert Handled.from_event(second).context["conversation_id"] == "kitchen-1"
    assert "ada" in words(Handled.from_event(second).text), second.data
    with sqlite3.connect(wyoming.database) as db:  # saved like the browser's conversations
        turns = db.execute(
            "SELECT t.role, t.text, c.meta FROM turns t JOIN conversations c"
            " ON c.id = t.conversation_id WHERE t.text IN (?, ?)",
            ("My name is Ada.", "What is my name?"),
        ).fetchall()
    assert [role for role, _, _ in turns] == ["user", "user"]
    assert len({meta for _, _, meta in turns}) == 1 and '"wyoming"' in turns[0][2]


# --- bad events -------------------------------------------------------------------------------


def test_bad_events_get_errors_and_the_server_goes_on(wyoming):
    """Events outside any request: an error each, and the same connection goes on."""

    async def misbehave():
        errors = []
        async with connected(wyoming.port) as client:
            huge = b"\0" * (3 * 1024 * 1024)
            for event in (
                Event("fly-to-the-moon"),
                Event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, payload=huge),
            ):
                await client.write_event(event)
                errors.append((await read_until(client, "error"))[-1])
            client._writer.write(b"this is not json\n")
            errors.append((await read_until(client, "error"))[-1])
            await client.write_event(Describe().event())  # the same connection still works
            still = (await read_until(client, "info"))[-1]
        return errors, still

    errors, still = run(misbehave())
    assert [e.data.get("code") for e in errors] == ["unknown-event", "too-big", "bad-event"]
    assert "fly-to-the-moon" in errors[0].data["text"] and "3145728" in errors[1].data["text"]
    assert still.type == "info"


def test_a_bad_request_gets_an_error_and_its_connection_closed(wyoming):
    """In a request (asr, tts, handle) the error is followed by closing the connection: Home
    Assistant's clients pass over `error` and wait for `transcript` or `audio-stop`, so only a
    closed connection ends their wait. The server goes on serving."""
    bad = [
        AudioChunk(16000, 2, 1, b"\0\0" * 160).event(),  # audio before audio-start
        AudioStart(5, 2, 1).event(),  # an absurd rate
        Transcribe(language="xx").event(),  # no such language
        Event("synthesize", {"text": 42}),
        Event("synthesize", {"text": "Hi.", "voice": {"name": "nobody"}}),
        Event("transcript", {"text": ""}),
        Detect(names=["hey_jarvis", "ok_google"]).event(),  # no such wake word
    ]

    async def one(event: Event) -> tuple[Event, Event | None]:
        async with connected(wyoming.port) as client:
            await client.write_event(event)
            error = (await read_until(client, "error"))[-1]
            return error, await client.read_event()  # None: the server hung up

    async def misbehave():
        answers = [await one(event) for event in bad]
        async with connected(wyoming.port) as client:  # a new connection is served
            await client.write_event(Describe().event())
            return answers, (await read_until(client, "info"))[-1]

    answers, fresh = run(misbehave())
    assert all(error.type == "error" and after is None for error, after in answers), answers
    codes = [error.data.get("code") for error, _ in answers]
    assert codes == ["audio-not-started", "bad-event", "unsupported-language", "bad-event",
                     "unknown-voice", "bad-event", "unknown-wake-word"], answers  # fmt: skip
    texts = [error.data["text"] for error, _ in answers]
    assert "5 Hz" in texts[1] and "--language auto" in texts[2] and "en_US-joe-medium" in texts[4]
    assert "'ok_google'" in texts[6] and "hey_jarvis" in texts[6]
    assert fresh.type == "info"


# --- several clients --------------------------------------------------------------------------


def test_three_clients_at_once(wyoming, question_wav):
    async def synthesize():
        async with connected(wyoming.port) as client:
            await client.write_event(Synthesize("Good morning to you.").event())
            return audio_of(await read_until(client, "audio-stop"))

    async def handle():
        async with connected(wyoming.port) as client:
            await client.write_event(Transcript("Say hello.").event())
            return (await read_until(client, "handled", "not-handled"))[-1]

    async def together():
        return await asyncio.gather(
            transcribe(wyoming.port, question_wav, language="en"), synthesize(), handle()
        )

    heard, spoken, handled = run(together())
    assert "romeo" in words(Transcript.from_event(heard[-1]).text)
    assert spoken.seconds > 0.5
    assert handled.type == "handled" and Handled.from_event(handled).text
    assert Handled.from_event(handled).context["conversation_id"]  # a new one, for the next turn


def test_chinese_text_is_spoken_by_a_voice_that_speaks_it(wyoming):
    async def speak():
        async with connected(wyoming.port) as client:
            voice = SynthesizeVoice(language="zh")
            await client.write_event(Synthesize("你好，今天天气很好。", voice=voice).event())
            return await read_until(client, "audio-stop")

    assert audio_of(run(speak())).sample_rate == 24000  # Kokoro's Mandarin voice


def test_a_unix_socket_with_speech_only(tmp_path):
    """`--uri unix://...` with one stage (--no-wake too): info lists only it, the others are
    refused clearly, and SIGTERM removes the socket."""
    socket_path = tmp_path / "wyoming.sock"

    async def use():
        async with AsyncUnixClient(str(socket_path), read_timeout=READ_TIMEOUT_S) as client:
            await client.write_event(Describe().event())
            info = Info.from_event((await read_until(client, "info"))[-1])
            await client.write_event(Synthesize("Hello there.").event())
            audio = audio_of(await read_until(client, "audio-stop"))
            await client.write_event(Transcript("Hello?").event())
            return info, (await read_until(client, "error"))[-1], audio

    with started(tmp_path, "wyoming", "--no-stt", "--no-llm", "--no-wake",
                 "--uri", f"unix://{socket_path}"):  # fmt: skip
        info, refused, audio = run(use())
    assert info.tts and not info.asr and not info.handle and not info.wake
    assert refused.data["code"] == "no-handle" and audio.seconds > 0.3
    assert not socket_path.exists()


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--uri", "tcp://0.0.0.0:10700"], "refusing to listen on 0.0.0.0"),
        (["--uri", "http://localhost:10700"], "is not a Wyoming address"),
        (["--uri", "tcp://127.0.0.1"], "is not a Wyoming address"),
        (["--zeroconf"], "needs an IPv4 network address"),
        (["--no-stt", "--no-tts", "--no-llm", "--no-wake"], "leave nothing to serve"),
    ],
)
def test_unusable_options_are_refused_before_any_model_loads(args, said):
    result = CliRunner().invoke(cli, ["wyoming", *args])
    assert result.exit_code == 2 and said in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_network_address_is_allowed_only_explicitly_and_with_a_warning():
    warnings: list[str] = []
    address = Address.parse("tcp://0.0.0.0:10700")
    check_address(address, allow_remote=True, warn=warnings.append)
    assert "no authentication" in warnings[0] and "firewall" in warnings[0]
    check_address(Address.parse("tcp://[::1]:10700"), allow_remote=False, warn=warnings.append)
    check_address(Address.parse("unix:///tmp/wyoming.sock"), allow_remote=False, warn=print)
    assert len(warnings) == 1


def test_help_explains_each_option():
    result = CliRunner().invoke(cli, ["wyoming", "--help"])
    for option in ("--uri", "--allow-remote", "--zeroconf", "--no-stt", "--no-tts", "--no-llm",
                   "--no-wake", "--language", "tcp://127.0.0.1:10700",
                   "authentication"):  # fmt: skip
        assert option in result.output, option


def test_the_benchmark_times_the_round_trips(tmp_path):
    """`assistant bench --wyoming`: the figures come from a real server and client."""
    utterances = make_corpus(tmp_path / "corpus", QUICK_TEXTS[:1])
    results = run_wyoming_trips(utterances, iterations=1, cli_args=[], say=lambda line: None)
    assert results["n"] == 1 and results["transcript_wer"] <= 0.5
    for key in ("transcript_after_audio_stop_ms", "synthesis_first_audio_ms",
                "synthesis_done_ms", "streamed_first_audio_ms"):  # fmt: skip
        assert results[key]["p50"] > 0, results
    assert "audio-stop -> transcript" in table(results)
