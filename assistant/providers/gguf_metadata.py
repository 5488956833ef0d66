"""The chat templates inside a GGUF file, read without llama.cpp: llama-cpp-python compiles every
template it finds the moment it opens a model, and Jinja folds constant expressions while it
compiles ("x" * 10**10 is built there), so a template must be judged before the model is opened.

Only the metadata is read; every length is checked against the file's size, so absurd metadata
(a string of 2**60 bytes, 2**63 keys) is refused instead of read.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from ..errors import AssistantError

MAGIC = b"GGUF"
TEMPLATE_KEY = "tokenizer.chat_template"
STRING, ARRAY = 8, 9  # GGUF value types
FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class BadModelFile(AssistantError):
    """A file that is not a readable GGUF model."""


def chat_templates(path: Path) -> dict[str, str]:
    """Every chat template in the GGUF metadata (key -> template text)."""
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = _Reader(data, path)
        if reader.take(4) != MAGIC:
            raise BadModelFile(f"{path} is not a GGUF model file (no GGUF signature)")
        version = reader.unpack("<I")
        if version < 2:
            raise BadModelFile(f"{path} is GGUF version {version}; llama.cpp reads 2 and later")
        tensors, count = reader.unpack("<Q"), reader.unpack("<Q")
        templates, blocks = {}, 0
        for _ in range(count):
            key = reader.string()
            kind = reader.unpack("<I")
            if kind == STRING and key.startswith(TEMPLATE_KEY):
                templates[key] = reader.string()
            elif kind in (4, 10) and key.endswith(".block_count"):  # uint32, uint64
                blocks = reader.unpack("<I" if kind == 4 else "<Q")
            else:
                reader.skip_value(kind)
        _check_blocks(reader, tensors, blocks, path)
        return templates


def _check_blocks(reader: _Reader, tensors: int, blocks: int, path: Path) -> None:
    """The layers the metadata declares must have tensors: llama.cpp aborts the whole process
    on a block_count past the layers the file holds."""
    present = set()
    for _ in range(tensors):
        name = reader.string()
        reader.skip(8 * reader.unpack("<I") + 12)  # dimensions, then type and offset
        if name.startswith("blk."):
            present.add(name.split(".")[1])
    missing = [n for n in range(min(blocks, len(present) + 1)) if str(n) not in present]
    if missing:
        raise BadModelFile(
            f"{path} declares {blocks} layers but holds tensors for {len(present)} "
            "(damaged or crafted metadata); llama.cpp would abort on it"
        )


class _Reader:
    """Reads the mapped file from the start; nothing past its end."""

    def __init__(self, data: mmap.mmap, path: Path) -> None:
        self._data, self._path, self._at = data, path, 0

    def take(self, count: int) -> bytes:
        self.skip(count)
        return self._data[self._at - count : self._at]

    def skip(self, count: int) -> None:
        if count > len(self._data) - self._at:
            raise BadModelFile(
                f"{self._path}: its metadata declares {count} bytes past the end of the file "
                "(a damaged or crafted model file)"
            )
        self._at += count

    def unpack(self, layout: str) -> int:
        size = struct.calcsize(layout)
        self.skip(size)
        return struct.unpack_from(layout, self._data, self._at - size)[0]

    def string(self) -> str:
        return self.take(self.unpack("<Q")).decode("utf-8", "replace")

    def skip_value(self, kind: int) -> None:
        if kind in FIXED_SIZES:
            self.skip(FIXED_SIZES[kind])
        elif kind == STRING:
            self.skip(self.unpack("<Q"))
        elif kind == ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            if item in FIXED_SIZES:
                self.skip(FIXED_SIZES[item] * count)
            elif item == STRING:  # the vocabulary: 150,000 strings in a Qwen model
                self._skip_strings(count)
            else:
                for _ in range(count):
                    self.skip_value(item)
        else:
            raise BadModelFile(f"{self._path}: unknown GGUF value type {kind} in its metadata")

    def _skip_strings(self, count: int) -> None:
        at, data, end = self._at, self._data, len(self._data)
        for _ in range(count):
            if at + 8 > end:
                at = end + 1  # a length past the end: refused below
                break
            at += 8 + struct.unpack_from("<Q", data, at)[0]
        self.skip(at - self._at)  # raises if that ran past the end
