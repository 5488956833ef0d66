"""Shared fixtures: the real default models, loaded once, and speech made by espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

from assistant.bench.corpus import word_error_rate, words  # noqa: F401  (used by the tests)
from assistant.config import Config
from assistant.providers.registry import create_chat, create_stt, create_tts
from assistant.providers.store import ModelStore

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Keep the tests away from the user's own config and data (history, kept audio)."""
    home = Path(tempfile.mkdtemp(prefix="assistant-tests-"))
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_DATA_HOME"] = str(home / "data")


def encode_audio(path: Path, samples: np.ndarray, codec: str, rate: int, channels: int = 1) -> Path:
    """Write mono int16 `samples` (at `rate` Hz) with PyAV's `codec`, copied to `channels`."""
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        interleaved = np.repeat(samples.astype(np.int16), channels).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = rate  # PyAV converts the frame to the codec's own sample format
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def store() -> ModelStore:
    store = ModelStore.open()
    missing = [e.name for e in store.catalog.defaults() if not store.is_present(e)]
    assert not missing, (
        f"default models missing: {missing}; run scripts/test.sh or `assistant models pull`"
    )
    return store


@pytest.fixture(scope="session")
def config() -> Config:
    return Config()


@pytest.fixture(scope="session")
def stt(config, store):
    return create_stt(config, store)


@pytest.fixture(scope="session")
def chat(config, store):
    return create_chat(config, store)


@pytest.fixture(scope="session")
def tts(config, store):
    return create_tts(config, store)


@pytest.fixture(scope="session")
def espeak(tmp_path_factory):
    """Make a WAV of `text` spoken by espeak-ng: speech from outside the project's own TTS."""
    binary = shutil.which("espeak-ng")
    assert binary, "espeak-ng is missing: scripts/test.sh installs it (apt-get install espeak-ng)"
    directory = tmp_path_factory.mktemp("espeak")

    def speak(text: str, name: str = "speech") -> Path:
        path = directory / f"{name}.wav"
        subprocess.run([binary, "-v", "en-us", "-s", "140", "-w", str(path), text], check=True)
        return path

    return speak


@pytest.fixture(scope="session")
def question_wav(espeak) -> Path:
    return espeak("Who wrote Romeo and Juliet?", "question")
