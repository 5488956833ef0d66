"""`assistant models add`: real model files are checked, copied and recorded; files that are not
what they claim are refused with a clear error and exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.providers.local import add_model
from assistant.providers.store import ModelStore, sha256_of


def cli(*args: str, models: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_MODELS_DIR": str(models)}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, env=env
    )


def test_a_real_gguf_is_added_listed_and_usable(store, tmp_path):
    models = tmp_path / "models"
    source = store.path("smollm2-135m-instruct") / "model.gguf"
    result = cli("models", "add", str(source), "--name", "my-llm", models=models)
    assert result.returncode == 0, result.stderr
    assert "added my-llm: GGUF language model" in result.stdout
    assert "--set llm.model=my-llm" in result.stdout
    assert sha256_of(models / "my-llm" / "model.gguf") == sha256_of(source)
    mine = ModelStore.open(str(models))
    assert mine.require("my-llm", "llm") == models / "my-llm"  # the merged catalog knows it
    assert mine.catalog.get("my-llm").local
    listed = cli("models", "list", models=models)
    [line] = [line for line in listed.stdout.splitlines() if "my-llm" in line]
    assert "(yours)" in line and "downloaded" in line
    again = cli("models", "add", str(source), "--name", "my-llm", models=models)
    assert again.returncode == 2 and "already in the catalog" in again.stderr


def test_a_piper_voice_and_a_whisper_directory_are_added(store, tmp_path):
    mine = ModelStore(tmp_path / "models", store.catalog)
    voice = add_model(mine, store.path("en_US-joe-medium") / "voice.onnx", "my-voice")
    assert voice.role == "tts" and voice.languages == ("en",)
    assert {p.name for p in (tmp_path / "models" / "my-voice").iterdir()} == {
        "voice.onnx",
        "voice.onnx.json",
    }
    whisper = tmp_path / "whisper-mine.en"
    shutil.copytree(store.path("whisper-tiny.en"), whisper)
    stt = add_model(ModelStore.open(str(tmp_path / "models")), whisper)
    assert stt.name == "whisper-mine.en" and stt.role == "stt" and stt.languages == ("en",)
    both = ModelStore.open(str(tmp_path / "models"))
    assert both.is_present(both.catalog.get("my-voice")) and both.is_present(stt)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda d: _write(d / "notes.txt", b"just some text"),
            "not a model this assistant can use",
        ),
        (lambda d: _write(d / "fake.gguf", b"GGUF" + bytes(60)), "llama.cpp cannot read it"),
        (lambda d: _write(d / "renamed.gguf", b"PK\x03\x04 a zip"), "not a GGUF file"),
        (
            lambda d: _write(d / "voice.onnx", b"not onnx"),
            "needs both voice.onnx and voice.onnx.json",
        ),
        (lambda d: _whisper_without_tokenizer(d), "missing tokenizer.json or vocabulary.txt"),
        (lambda d: d / "absent.gguf", "does not exist"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused(tmp_path, make, message):
    path = make(tmp_path)
    result = cli("models", "add", str(path), models=tmp_path / "models")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "models" / "local.toml").exists()


def test_a_piper_config_with_a_broken_model_is_refused(store, tmp_path):
    shutil.copy(store.path("en_US-joe-medium") / "voice.onnx.json", tmp_path / "v.onnx.json")
    _write(tmp_path / "v.onnx", b"\x08\x07garbage")
    with pytest.raises(UsageError, match="not an ONNX model onnxruntime can load"):
        add_model(ModelStore(tmp_path / "models", store.catalog), tmp_path / "v.onnx")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _whisper_without_tokenizer(directory: Path) -> Path:
    model = directory / "whisper-broken"
    model.mkdir()
    _write(model / "model.bin", b"\x06\x00\x00\x00\x0c\x00WhisperSpec\x00")
    _write(model / "config.json", b"{}")
    return model
