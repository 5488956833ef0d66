"""The Hugging Face source: real downloads over HTTP from a local server in the hub's URL layout
(redirects, LFS sha256 headers, Range requests, a cut connection), a mirror, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_server import FakeHub
from serving import free_port

from assistant.errors import DownloadError, UsageError
from assistant.providers.catalog import ModelCatalog, ModelEntry, ModelFile, load_catalog
from assistant.providers.hub import Hub, piper_voices, pull_from_hub
from assistant.providers.store import ModelStore, read_record

REPO = "someone/tiny-model-GGUF"
WEIGHTS = bytes(range(256)) * 4096  # 1 MiB, an "LFS" file
CONFIG = b'{"layers": 2}'  # small: kept in git, checked by its git sha1
VOICES = {
    "zh_CN-huayan-medium": {
        "key": "zh_CN-huayan-medium",
        "name": "huayan",
        "language": {"code": "zh_CN", "family": "zh", "name_english": "Chinese"},
        "quality": "medium",
        "num_speakers": 1,
        "files": {
            "zh/zh_CN/huayan/medium/zh_CN-huayan-medium.onnx": {"size_bytes": 63201294},
            "zh/zh_CN/huayan/medium/zh_CN-huayan-medium.onnx.json": {"size_bytes": 4823},
        },
    },
    "en_US-joe-medium": {
        "key": "en_US-joe-medium",
        "name": "joe",
        "language": {"code": "en_US", "family": "en", "name_english": "English"},
        "quality": "medium",
        "num_speakers": 1,
        "files": {"en/en_US/joe/medium/en_US-joe-medium.onnx": {"size_bytes": 63201294}},
    },
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub():
    server = FakeHub()
    server.add(REPO, "model-q4.gguf", WEIGHTS)
    server.add(REPO, "config.json", CONFIG)
    server.add("rhasspy/piper-voices", "voices.json", json.dumps(VOICES).encode())
    server.start()
    yield server
    server.stop()


def entry(weights_sha: str = "", config_sha: str | None = None, size: int = len(WEIGHTS)):
    return ModelEntry(
        name="tiny-gguf",
        role="llm",
        description="test",
        license="MIT",
        huggingface=REPO,
        files=(
            ModelFile("model.gguf", size, weights_sha, hub="model-q4.gguf"),
            ModelFile("config.json", len(CONFIG), config_sha or "", hub="config.json"),
        ),
    )


def store_with(tmp_path: Path, model: ModelEntry) -> ModelStore:
    return ModelStore(tmp_path / "models", ModelCatalog((model,)))


def test_pinned_hash_download_follows_the_redirect_and_verifies(hub, tmp_path):
    model = entry(weights_sha=sha(WEIGHTS), config_sha=sha(CONFIG))
    store = store_with(tmp_path, model)
    lines: list[str] = []
    assert pull_from_hub(store, [model], Hub(hub.endpoint), report=lines.append) == ["tiny-gguf"]
    assert (store.path("tiny-gguf") / "model.gguf").read_bytes() == WEIGHTS
    assert (store.path("tiny-gguf") / "config.json").read_bytes() == CONFIG
    assert sum("the catalog's pinned sha256" in line for line in lines) == 2
    assert ("GET", "/cdn/model-q4.gguf", "") in hub.requests  # the 302 was followed
    assert read_record(store.path("tiny-gguf")) == {}  # bytes exactly as the catalog pins
    assert store.is_present(model)
    assert not list(store.path("tiny-gguf").glob("*.part"))


def test_without_a_pinned_hash_the_hubs_own_checksums_are_used_and_recorded(hub, tmp_path):
    model = entry(size=123)  # approximate size, no hash: a hub-only catalog entry
    store = store_with(tmp_path, model)
    lines: list[str] = []
    pull_from_hub(store, [model], Hub(hub.endpoint), report=lines.append)
    assert any("model.gguf" in line and "X-Linked-Etag" in line for line in lines)
    assert any("config.json" in line and "git sha1" in line for line in lines)
    record = read_record(store.path("tiny-gguf"))
    assert record["model.gguf"]["sha256"] == sha(WEIGHTS)
    assert record["model.gguf"]["size"] == len(WEIGHTS)
    assert store.is_present(model)  # the recorded size, not the catalog's approximate one
    again: list[str] = []
    assert pull_from_hub(store, [model], Hub(hub.endpoint), report=again.append) == []
    assert any("already present" in line for line in again)


def test_a_cut_download_continues_with_a_range_request(hub, tmp_path):
    model = entry(weights_sha=sha(WEIGHTS))
    store = store_with(tmp_path, model)
    hub.cut_after["model-q4.gguf"] = 300_000
    with pytest.raises(DownloadError, match=r"cut after 300000 of 1048576 bytes.*run the same"):
        pull_from_hub(store, [model], Hub(hub.endpoint))
    part = store.path("tiny-gguf") / "model.gguf.part"
    assert part.stat().st_size == 300_000
    assert not store.is_present(model)
    lines: list[str] = []
    assert pull_from_hub(store, [model], Hub(hub.endpoint), report=lines.append) == ["tiny-gguf"]
    assert ("GET", "/cdn/model-q4.gguf", "bytes=300000-") in hub.requests
    assert any("continuing a cut download at 300000 bytes" in line for line in lines)
    assert (store.path("tiny-gguf") / "model.gguf").read_bytes() == WEIGHTS
    assert not part.exists()


def test_a_checksum_mismatch_removes_the_file(hub, tmp_path):
    model = entry(weights_sha="1" * 64)
    store = store_with(tmp_path, model)
    with pytest.raises(DownloadError, match=r"checksum mismatch .*model\.gguf.*pinned.*removed"):
        pull_from_hub(store, [model], Hub(hub.endpoint))
    directory = store.path("tiny-gguf")
    assert not (directory / "model.gguf").exists() and not (directory / "model.gguf.part").exists()


def test_a_wrong_hub_checksum_is_a_mismatch_too(hub, tmp_path):
    hub.lie_about.add("model-q4.gguf")
    store = store_with(tmp_path, entry())
    with pytest.raises(DownloadError, match=r"expected sha256 0{64} \(the hub's LFS sha256"):
        pull_from_hub(store, [entry()], Hub(hub.endpoint))
    assert not (store.path("tiny-gguf") / "model.gguf").exists()


def test_an_unreachable_hub_names_the_mirror_setting(tmp_path):
    port = free_port()  # nobody listens there
    store = store_with(tmp_path, entry())
    with pytest.raises(DownloadError, match=r"cannot reach the Hugging Face hub .*hf-mirror\.com"):
        pull_from_hub(store, [entry()], Hub(f"http://127.0.0.1:{port}", timeout_s=5))


def test_a_missing_file_on_the_hub_is_a_404_error(hub, tmp_path):
    model = entry(weights_sha=sha(WEIGHTS))
    broken = ModelEntry(**{**model.__dict__, "huggingface": "someone/absent"})
    with pytest.raises(DownloadError, match="does not exist on the hub"):
        pull_from_hub(store_with(tmp_path, broken), [broken], Hub(hub.endpoint))


def test_an_entry_without_hub_files_is_refused(tmp_path):
    kokoro = load_catalog().get("kokoro-82m-v1.0-int8")
    with pytest.raises(UsageError, match=r"no Hugging Face files.*--source pypi"):
        pull_from_hub(store_with(tmp_path, kokoro), [kokoro], Hub("http://127.0.0.1:9"))


def test_piper_voice_collection_filtered_by_language(hub):
    voices = piper_voices(Hub(hub.endpoint), "zh")
    assert [v.key for v in voices] == ["zh_CN-huayan-medium"]
    assert voices[0].size == 63201294 + 4823 and voices[0].language_name == "Chinese"
    assert len(piper_voices(Hub(hub.endpoint))) == 2


def test_every_hub_file_of_the_real_catalog_names_its_repo():
    for model in load_catalog().models:
        if model.on_hub:
            assert "/" in model.huggingface and model.revision
        if not model.on_pypi:  # hub-only: the better LLMs
            assert model.on_hub and model.role == "llm" and not model.tiers


# --- the command line, against a "mirror" endpoint, with a model from the user catalog ---


def cli(*args: str, models: Path, endpoint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_MODELS_DIR": str(models)}
    return subprocess.run(
        [sys.executable, "-m", "assistant", "--set", f"models.hub_endpoint={endpoint}", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_pulls_from_a_mirror_and_lists_piper_voices(hub, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    weights = f'name = "model.gguf", size = {len(WEIGHTS)}, sha256 = "{sha(WEIGHTS)}"'
    (models / "local.toml").write_text(
        f"""[[model]]
name = "mirror-model"
role = "llm"
huggingface = "{REPO}"
files = [{{ {weights}, hub = "model-q4.gguf" }}]
"""
    )
    result = cli("models", "pull", "--source", "huggingface", "mirror-model",
                 models=models, endpoint=hub.endpoint)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pulled: mirror-model" in result.stdout
    assert f"from {hub.endpoint}/{REPO}" in result.stderr
    assert (models / "mirror-model" / "model.gguf").read_bytes() == WEIGHTS
    listed = cli("models", "list", "--source", "huggingface", "--voices", "--language", "zh",
                 models=models, endpoint=hub.endpoint)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "zh_CN-huayan-medium" in listed.stdout and "en_US-joe-medium" not in listed.stdout


def test_cli_unreachable_endpoint_fails_clearly(tmp_path):
    port = free_port()
    result = cli("models", "list", "--source", "huggingface", "--voices",
                 models=tmp_path, endpoint=f"http://127.0.0.1:{port}")  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach the Hugging Face hub" in result.stderr and "hf-mirror.com" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_piper_voice_from_the_collection_is_pulled_recorded_and_speaks(hub, store, tmp_path):
    joe = store.path("en_US-joe-medium")
    onnx, config = (joe / "voice.onnx").read_bytes(), (joe / "voice.onnx.json").read_bytes()
    base = "en/en_US/testjoe/medium/en_US-testjoe-medium.onnx"
    hub.add("rhasspy/piper-voices", base, onnx)
    hub.add("rhasspy/piper-voices", base + ".json", config)
    collection = {
        "en_US-testjoe-medium": {
            "key": "en_US-testjoe-medium",
            "language": {"code": "en_US", "family": "en", "name_english": "English"},
            "quality": "medium",
            "num_speakers": 1,
            "files": {base: {"size_bytes": len(onnx)}, base + ".json": {"size_bytes": len(config)}},
        }
    }
    hub.add("rhasspy/piper-voices", "voices.json", json.dumps(collection).encode())
    models = tmp_path / "models"
    pulled = cli("models", "pull", "--source", "huggingface", "piper:en_US-testjoe-medium",
                 models=models, endpoint=hub.endpoint)  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert "verified against the hub's LFS sha256" in pulled.stderr  # the .onnx
    assert "verified against the hub's git sha1" in pulled.stderr  # the small .onnx.json
    assert (models / "en_US-testjoe-medium" / "voice.onnx").read_bytes() == onnx
    entry = ModelStore.open(str(models)).catalog.get("en_US-testjoe-medium", "tts")
    assert entry.local and entry.files[0].sha256 == sha(onnx)  # pinned in local.toml
    wav = tmp_path / "hello.wav"
    said = cli("--set", "tts.voice=en_US-testjoe-medium", "say", "Hello there.", "-o", str(wav),
               models=models, endpoint=hub.endpoint)  # fmt: skip
    assert said.returncode == 0, said.stderr
    assert wav.stat().st_size > 20_000  # about a second of 22 kHz speech
    again = cli("models", "pull", "--source", "huggingface", "piper:nobody",
                models=models, endpoint=hub.endpoint)  # fmt: skip
    assert again.returncode == 2 and "has no voice 'nobody'" in again.stderr
