"""Shared fixtures: the real default models, loaded once, and speech made by espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from assistant.bench.corpus import word_error_rate, words  # noqa: F401  (used by the tests)
from assistant.config import Config
from assistant.providers.registry import create_chat, create_stt, create_tts
from assistant.providers.store import ModelStore
from assistant.providers.tiers import resolve_models

REPO = Path(__file__).resolve().parent.parent
TEST_TIER = "tiny"
TIER_VARIABLE = "ASSISTANT_MODELS_TIER"


def pytest_configure(config):
    """Keep the tests away from the user's own config and data (history, kept audio)."""
    home = Path(tempfile.mkdtemp(prefix="assistant-tests-"))
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    # The fast tier by default, in this process and every `assistant` the tests start; tests of
    # the default tier ask for it (the `default_tier` fixture, or --set models.tier=default).
    os.environ[TIER_VARIABLE] = TEST_TIER


def clean_environment() -> dict[str, str]:
    """This process's environment without ASSISTANT_* settings, except the tests' model tier."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_") or k == TIER_VARIABLE
    }


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


def tier_config(tier: str) -> Config:
    """Config() with the model names of `tier` (English), as `assistant --set models.tier=...`."""
    return resolve_models(replace(Config(), models=replace(Config().models, tier=tier)))


def require_tier(store: ModelStore, tier: str) -> None:
    missing = [e.name for e in store.catalog.tier_set(tier) if not store.is_present(e)]
    assert not missing, (
        f"models of the {tier} tier missing: {missing}; run scripts/test.sh "
        f"or `assistant models pull --tier {tier}`"
    )


@pytest.fixture(scope="session")
def store() -> ModelStore:
    store = ModelStore.open()
    require_tier(store, TEST_TIER)
    return store


@pytest.fixture(scope="session")
def config() -> Config:
    """The tests' configuration: the defaults with the tiny tier's models."""
    return tier_config(TEST_TIER)


@pytest.fixture(scope="session")
def default_tier(store) -> Config:
    """The defaults with the default tier's models (what a user's `assistant` runs)."""
    require_tier(store, "default")
    return tier_config("default")


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


def steady_replies(directory: Path, texts: tuple[str, ...], rate: int) -> list[np.ndarray]:
    """Each text said by espeak-ng's en-gb voice (int16 at `rate`), another voice than the user's
    and the same samples every run, where Piper's voice varies: replies for figures that should
    not."""
    from assistant.audio.codec import decode_file, resample

    binary, spoken = shutil.which("espeak-ng"), []
    for number, text in enumerate(texts):
        path = directory / f"reply{number}.wav"
        subprocess.run([binary, "-v", "en-gb", "-s", "150", "-w", str(path), text], check=True)
        spoken.append(resample(decode_file(path), rate).to_int16())
    return spoken


@pytest.fixture(scope="session")
def question_wav(espeak) -> Path:
    return espeak("Who wrote Romeo and Juliet?", "question")
