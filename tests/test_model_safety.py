"""Model files from strangers: a file changed since it was fetched is refused at load time (and
loads when the user says it is theirs), names from clients stay inside the models directory,
and GGUF files crafted with the `gguf` package (a chat template that escapes the sandbox, one
that never ends, one that eats memory, absurd metadata) are refused or contained with a clear
message."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import gguf
import pytest
from conftest import TEST_TIER
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata
from serving import ASSISTANT, clean_env

from assistant.errors import AssistantError, UnknownNameError, UsageError
from assistant.providers import chat_template
from assistant.providers.gguf_metadata import BadModelFile, chat_templates
from assistant.providers.llama_cpp import LlamaCppChat
from assistant.providers.registry import create_chat
from assistant.providers.store import ModelStore
from assistant.providers.verify import ModelFileChanged, check_file, stamp_path
from assistant.types import ChatMessage

ESCAPE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
ENDLESS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
GREEDY = "{{ 'x' * 100000 * 100000 }}"


@pytest.fixture(autouse=True)
def own_stamps(tmp_path, monkeypatch):
    """Verdicts stamped in this test's own cache, never in the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny_llm(config, store) -> Path:
    return store.require(config.llm.model, "llm") / "model.gguf"


def crafted(source: Path, target: Path, **metadata: MetadataDetails) -> Path:
    """A copy of the GGUF `source` with metadata replaced or added (the gguf package's own
    gguf_new_metadata logic)."""
    reader = gguf.GGUFReader(source)
    architecture = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(target, arch=architecture, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    copy_with_new_metadata(reader, writer, dict(metadata), [])
    return target


def with_template(source: Path, target: Path, template: str) -> Path:
    text = MetadataDetails(gguf.GGUFValueType.STRING, template)
    return crafted(source, target, **{gguf.Keys.Tokenizer.CHAT_TEMPLATE: text})


# --- checksums at load time ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def changed_models(tmp_path_factory, config, store) -> Path:
    """A models directory whose tiny LLM differs from the catalog by one byte."""
    root = tmp_path_factory.mktemp("models")
    name = config.llm.model
    (root / name).mkdir()
    target = root / name / "model.gguf"
    shutil.copyfile(store.path(name) / "model.gguf", target)
    with target.open("r+b") as file:
        file.seek(target.stat().st_size - 4096)  # in the last tensor's data: it still loads
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0xFF]))
    return root


def test_a_model_file_changed_since_the_download_is_refused_at_load(config, changed_models):
    store = ModelStore.open(str(changed_models))
    with pytest.raises(ModelFileChanged, match="does not match the catalog") as caught:
        create_chat(config, store)
    assert f"assistant models pull {config.llm.model}" in str(caught.value)
    assert "models.verify = false" in str(caught.value)


def test_the_user_may_load_a_file_changed_on_purpose(config, changed_models):
    chat = create_chat(config, ModelStore.open(str(changed_models), verify=False))
    assert "".join(chat.stream_chat([ChatMessage("user", "Hi")], max_tokens=2)) is not None


def test_the_command_line_says_so_in_one_line(tmp_path, changed_models):
    result = subprocess.run(
        [ASSISTANT, "--set", f"models.dir={changed_models}", "--set", f"models.tier={TEST_TIER}",
         "transcribe", "--help"],
        capture_output=True, text=True, env=clean_env(tmp_path), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0  # nothing is loaded for --help: no check, no cost
    chat = subprocess.run(
        [ASSISTANT, "--set", f"models.dir={changed_models}", "--set", f"models.tier={TEST_TIER}",
         "chat"],
        input="Hi\n", capture_output=True, text=True, env=clean_env(tmp_path), timeout=120,
    )  # fmt: skip
    assert chat.returncode == 1, chat.stderr
    assert "does not match the catalog" in chat.stderr and "Traceback" not in chat.stderr


def test_a_verified_file_is_hashed_once_until_it_changes(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    hashed: list[Path] = []

    def digest(file: Path) -> str:
        hashed.append(file)
        import hashlib

        return hashlib.sha256(file.read_bytes()).hexdigest()

    sha = digest(path)
    hashed.clear()
    for _ in range(3):
        check_file(path, sha, digest, model="m")
    assert len(hashed) == 1 and stamp_path().is_file()
    path.write_bytes(b"Weights")  # same size, new mtime: hashed again, and refused
    with pytest.raises(ModelFileChanged):
        check_file(path, sha, digest, model="m")
    assert len(hashed) == 2


# --- names from clients -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../models", "/etc", "a/b", "..", ".", "", "..\\x"])
def test_a_model_name_never_leads_outside_the_models_directory(store, name):
    with pytest.raises(UsageError):
        store.path(name)
    with pytest.raises(UnknownNameError):
        store.catalog.get(name)


# --- crafted GGUF files -----------------------------------------------------------------------


def test_a_template_that_escapes_the_sandbox_is_refused(tmp_path, tiny_llm):
    model = with_template(tiny_llm, tmp_path / "escape.gguf", ESCAPE)
    with pytest.raises(chat_template.ChatTemplateRefused, match="outside Jinja's sandbox"):
        LlamaCppChat.load(model)


def test_a_template_that_never_ends_is_refused_in_bounded_time(tmp_path, tiny_llm, monkeypatch):
    monkeypatch.setattr(chat_template, "PROBE_TIMEOUT_S", 3.0)
    model = with_template(tiny_llm, tmp_path / "endless.gguf", ENDLESS)
    with pytest.raises(chat_template.ChatTemplateRefused, match="did not finish rendering"):
        LlamaCppChat.load(model)


def test_a_template_that_eats_memory_is_refused(tmp_path, tiny_llm):
    model = with_template(tiny_llm, tmp_path / "greedy.gguf", GREEDY)
    with pytest.raises(chat_template.ChatTemplateRefused, match="needed more than"):
        LlamaCppChat.load(model)


def test_a_good_template_is_probed_once(tmp_path, tiny_llm, monkeypatch):
    LlamaCppChat.load(tiny_llm)
    monkeypatch.setattr(chat_template, "_probe", lambda template: pytest.fail("probed again"))
    chat = LlamaCppChat.load(tiny_llm)
    assert "".join(chat.stream_chat([ChatMessage("user", "Hi")], max_tokens=2)) is not None


def test_absurd_metadata_is_refused_or_contained(tmp_path, tiny_llm):
    reader = gguf.GGUFReader(tiny_llm)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    huge_context = crafted(tiny_llm, tmp_path / "context.gguf", **{
        f"{arch}.context_length": MetadataDetails(gguf.GGUFValueType.UINT32, 2**32 - 1),
        gguf.Keys.General.NAME: MetadataDetails(gguf.GGUFValueType.STRING, "n" * 1_000_000),
    })  # fmt: skip
    chat = LlamaCppChat.load(huge_context, context=512)  # our context, not the file's
    assert chat.context_size == 512
    blocks = crafted(tiny_llm, tmp_path / "blocks.gguf", **{
        f"{arch}.block_count": MetadataDetails(gguf.GGUFValueType.UINT32, 100_000),
    })  # fmt: skip
    with pytest.raises(BadModelFile, match="declares 100000 layers but holds tensors for"):
        LlamaCppChat.load(blocks)  # was: llama.cpp aborted the whole process


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GGML" + bytes(40), "no GGUF signature"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**60), "past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**63), "past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
         + struct.pack("<IIQ", 9, 8, 2**40), "past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
         + struct.pack("<I", 99), "unknown GGUF value type 99"),
    ],
)  # fmt: skip
def test_absurd_metadata_lengths_are_refused_before_anything_is_read(tmp_path, data, expected):
    path = tmp_path / "absurd.gguf"
    path.write_bytes(data)
    with pytest.raises(BadModelFile, match=expected):
        chat_templates(path)
    with pytest.raises(AssistantError):
        LlamaCppChat.load(path)
