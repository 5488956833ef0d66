"""Opt-in audio keeping (`--keep-audio DIR`). By default audio never touches the disk."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from ..audio.codec import write_wav
from ..errors import AssistantError, UsageError
from ..types import AudioChunk


class AudioKeeping(Protocol):
    @property
    def meta(self) -> Mapping[str, str]:
        """What to note in the conversation's saved metadata."""
        ...

    def keep(self, conversation_id: int, turn_id: int, role: str, audio: AudioChunk) -> Path | None:
        """Keep one turn's audio; the file written, if any."""
        ...


class NoAudioKeeping:
    """The default: audio stays in memory and is dropped."""

    meta: Mapping[str, str] = MappingProxyType({})

    def keep(self, conversation_id: int, turn_id: int, role: str, audio: AudioChunk) -> None:
        return None


NO_AUDIO = NoAudioKeeping()


class AudioKeeper:
    """Writes each turn's audio to DIRECTORY/<conversation>-<turn>-<role>.wav."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"cannot keep audio in {self.directory}: {error.strerror or error}"
            ) from None
        self._unsaved = itertools.count(1)
        self._session = time.strftime("%Y%m%d-%H%M%S")

    @property
    def meta(self) -> Mapping[str, str]:
        return {"audio_dir": str(self.directory.resolve())}

    def keep(self, conversation_id: int, turn_id: int, role: str, audio: AudioChunk) -> Path:
        """Write the audio; a turn the history did not save gets an unsaved-<time>-<n> name."""
        if conversation_id and turn_id:
            name = f"{conversation_id}-{turn_id}-{role}.wav"
        else:
            name = f"unsaved-{self._session}-{next(self._unsaved)}-{role}.wav"
        path = self.directory / name
        try:
            write_wav(path, audio)
        except OSError as error:
            raise AssistantError(
                f"cannot keep audio in {path}: {error.strerror or error}"
            ) from None
        return path
