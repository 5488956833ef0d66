"""The user's own models: checking that a file is what it claims, copying it into the store,
and recording it in the store's local.toml (merged with the shipped catalog)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .catalog import LOCAL_CATALOG, ModelEntry, ModelFile
from .store import ModelStore, sha256_of

GGUF_MAGIC = b"GGUF"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Found:
    """What a path holds: the role, the store's file names mapped to the user's files, languages."""

    role: str
    kind: str
    files: dict[str, Path]
    languages: tuple[str, ...]


def add_model(store: ModelStore, path: Path, name: str = "") -> ModelEntry:
    """Check `path`, copy it into the store as `name` and record it; returns the new entry."""
    path = path.expanduser()
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    found = identify(path)
    name = name or _default_name(path)
    if not _NAME.match(name):
        raise UsageError(f"model name '{name}' may use letters, digits, '.', '_' and '-' only")
    if any(e.name == name for e in store.catalog.models):
        raise UsageError(f"a model named '{name}' is already in the catalog; choose --name")
    target = store.path(name)
    if target.exists():
        raise UsageError(f"{target} already exists; choose another --name or remove it")
    store.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=store.root))
    try:
        files = []
        for stored, source in found.files.items():
            shutil.copyfile(source, staging / stored)
            size = (staging / stored).stat().st_size
            files.append(ModelFile(stored, size, sha256_of(staging / stored)))
        staging.rename(target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"cannot copy {path} into {store.root}: {error}") from None
    entry = ModelEntry(
        name=name,
        role=found.role,
        description=f"{found.kind}, added from {path}",
        license="unknown (your own file)",
        huggingface="",
        files=tuple(files),
        languages=found.languages,
        provenance=f"added by the user from {path}",
        local=True,
    )
    record_local(store, entry)
    return entry


def identify(path: Path) -> Found:
    """A GGUF language model, a Piper voice or a CTranslate2 Whisper directory; else UsageError."""
    if path.is_dir():
        return _whisper_directory(path)
    if path.name.endswith(".onnx.json"):
        path = path.with_name(path.name.removesuffix(".json"))
    if path.suffix == ".onnx":
        return _piper_voice(path)
    with path.open("rb") as file:
        magic = file.read(4)
    if magic == GGUF_MAGIC or path.suffix == ".gguf":
        return _gguf(path, magic)
    raise UsageError(
        f"{path} is not a model this assistant can use: expected a GGUF language model "
        "(.gguf), a Piper voice (.onnx next to its .onnx.json) or a CTranslate2 Whisper directory"
    )


def _gguf(path: Path, magic: bytes) -> Found:
    if magic != GGUF_MAGIC:
        raise UsageError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
    import ctypes

    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True  # the header and vocabulary: proves llama.cpp reads it, no weights
    with suppress_stdout_stderr(disable=False):
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise UsageError(f"{path} starts like GGUF but llama.cpp cannot read it (damaged or cut?)")
    buffer = ctypes.create_string_buffer(256)
    found = llama_cpp.llama_model_meta_val_str(model, b"general.name", buffer, len(buffer))
    llama_cpp.llama_model_free(model)
    name = buffer.value.decode("utf-8", "replace") if found > 0 else path.stem
    return Found("llm", f"GGUF language model '{name}'", {"model.gguf": path}, ())


def _piper_voice(path: Path) -> Found:
    config_path = path.with_name(path.name + ".json")
    if not path.is_file() or not config_path.is_file():
        raise UsageError(
            f"a Piper voice needs both {path.name} and {config_path.name} in {path.parent}"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        rate = int(config["audio"]["sample_rate"])
        if not config["phoneme_id_map"]:
            raise KeyError("phoneme_id_map")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{config_path} is not a Piper voice config: {error!r}") from None
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise UsageError(f"{path} is not an ONNX model onnxruntime can load: {error}") from None
    inputs = {i.name for i in session.get_inputs()}
    if not {"input", "input_lengths", "scales"} <= inputs:
        raise UsageError(
            f"{path} is an ONNX model but not a Piper voice (inputs: {sorted(inputs)})"
        )
    language = config.get("language", {}).get("family") or config.get("espeak", {}).get("voice", "")
    return Found(
        "tts",
        f"Piper voice, {rate} Hz",
        {"voice.onnx": path, "voice.onnx.json": config_path},
        (language.split("-")[0],) if language else (),
    )


def _whisper_directory(path: Path) -> Found:
    required = ["model.bin", "config.json"]
    tokenizer = [
        n for n in ("tokenizer.json", "vocabulary.txt", "vocabulary.json") if (path / n).is_file()
    ]
    missing = [n for n in required if not (path / n).is_file()]
    if missing or not tokenizer:
        missing += [] if tokenizer else ["tokenizer.json or vocabulary.txt"]
        raise UsageError(f"{path} is not a CTranslate2 Whisper model: missing {', '.join(missing)}")
    with (path / "model.bin").open("rb") as file:
        header = file.read(64)
    try:
        version, length = struct.unpack_from("<IH", header)
        spec = header[6 : 6 + length].rstrip(b"\0").decode("ascii")
    except (struct.error, UnicodeDecodeError):
        version, spec = 0, ""
    if not (1 <= version <= 64) or spec != "WhisperSpec":
        raise UsageError(f"{path / 'model.bin'} is not a CTranslate2 Whisper model (spec {spec!r})")
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"{path / 'config.json'} is not valid JSON: {error}") from None
    files = {n: path / n for n in [*required, *tokenizer]}
    english_only = path.name.endswith(".en")
    return Found("stt", "CTranslate2 Whisper model", files, ("en",) if english_only else ("multi",))


def _default_name(path: Path) -> str:
    name = path.name.removesuffix(".json").removesuffix(".onnx").removesuffix(".gguf")
    return re.sub(r"[^A-Za-z0-9._-]", "-", name).strip("-.") or "my-model"


def record_local(store: ModelStore, entry: ModelEntry) -> None:
    """Append `entry` to the store's local.toml (created when absent)."""
    path = store.root / LOCAL_CATALOG
    quoted = json.dumps  # JSON string escapes are valid TOML basic strings
    lines = [
        ""
        if path.is_file()
        else "# Your own models (assistant models add). Merged with catalog.toml.",
        "[[model]]",
        f"name = {quoted(entry.name)}",
        f"role = {quoted(entry.role)}",
        f"languages = {json.dumps(list(entry.languages))}",
        f"description = {quoted(entry.description, ensure_ascii=False)}",
        f"license = {quoted(entry.license)}",
        f"provenance = {quoted(entry.provenance, ensure_ascii=False)}",
    ]
    if entry.huggingface:
        lines += [
            f"huggingface = {quoted(entry.huggingface)}",
            f"revision = {quoted(entry.revision)}",
        ]
    lines.append("files = [")
    for f in entry.files:
        hub = f", hub = {quoted(f.hub)}" if f.hub else ""
        lines.append(
            f"  {{ name = {quoted(f.name)}, size = {f.size}, sha256 = {quoted(f.sha256)}{hub} }},"
        )
    lines += ["]", ""]
    with path.open("a", encoding="utf-8") as file:
        file.write("\n".join(lines))
