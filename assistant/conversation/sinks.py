"""Where the assistant's voice goes: the `AudioSink` seam shared by the speaker, the browser,
the benchmark and the file a one-shot reply writes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..audio.codec import concat
from ..types import AudioChunk


class AudioSink(Protocol):
    """A speaker, a browser over a WebSocket, a file."""

    def play(self, chunk: AudioChunk) -> None:
        """Queue audio to be played after what is already queued."""
        ...

    def clear(self) -> None:
        """Stop at once and drop everything queued."""
        ...

    def pending_seconds(self) -> float:
        """Audio queued but not played yet."""
        ...

    def set_paused(self, paused: bool) -> None:
        """Hold playback (keeping the queue) or go on."""
        ...


@runtime_checkable
class EchoingSink(Protocol):
    """A sink whose sound comes back into the microphone: a speaker in a room."""

    def echo_tail_s(self) -> float:
        """Seconds the sound already played on goes on coming back into the microphone."""
        ...


class CollectingSink:
    """Keeps every chunk, plays nothing (so nothing is ever pending): a reply into a file."""

    def __init__(self) -> None:
        self.chunks: list[AudioChunk] = []

    def play(self, chunk: AudioChunk) -> None:
        self.chunks.append(chunk)

    def clear(self) -> None:
        self.chunks.clear()

    def pending_seconds(self) -> float:
        return 0.0

    def set_paused(self, paused: bool) -> None:
        pass

    def audio(self) -> AudioChunk:
        return concat(self.chunks)
