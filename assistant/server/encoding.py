"""Speech audio in OpenAI's response formats, encoded chunk by chunk as it is synthesized."""

from __future__ import annotations

import struct
from typing import Any, Protocol

from ..audio.codec import StreamResampler
from ..types import AudioChunk

PCM_RATE = 24000  # Hz: OpenAI's `pcm` is raw 24 kHz 16-bit mono
STREAMING_SIZE = 0xFFFFFFFF  # a WAV size field meaning "until the end of the stream"

MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# format -> (container, PyAV encoder, sample rate or None for the voice's own, muxer options)
_CODED: dict[str, tuple[str, str, int | None, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", None, {}),
    "opus": ("ogg", "libopus", 48000, {"page_duration": "100000"}),  # Ogg pages of 0.1 s
    "aac": ("adts", "aac", None, {}),
    "flac": ("flac", "flac", None, {}),
}


class Encoder(Protocol):
    def feed(self, chunk: AudioChunk) -> bytes:
        """The encoded bytes ready after `chunk` (maybe none yet)."""
        ...

    def finish(self) -> bytes:
        """The rest, once the audio has ended."""
        ...


def available_formats() -> tuple[str, ...]:
    """The response formats this machine can encode (wav and pcm always)."""
    import av

    codecs = av.codecs_available
    coded = tuple(name for name, (_, codec, _, _) in _CODED.items() if codec in codecs)
    return (*coded, "wav", "pcm")


def encoder(response_format: str) -> Encoder:
    if response_format == "wav":
        return WavEncoder()
    if response_format == "pcm":
        return PcmEncoder(PCM_RATE)
    container, codec, rate, options = _CODED[response_format]
    return AvEncoder(container, codec, rate, options)


class PcmEncoder:
    """Raw 16-bit little-endian mono PCM at a fixed rate; resampling keeps its state across
    chunks, so the joins between sentences are seamless."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler: StreamResampler | None = None

    def feed(self, chunk: AudioChunk) -> bytes:
        if not chunk.pcm:
            return b""
        flushed = b""
        if self._resampler is None or self._resampler.in_rate != chunk.sample_rate:
            flushed = self.finish()
            self._resampler = StreamResampler(chunk.sample_rate, self.rate)
        return flushed + self._resampler.push(chunk.pcm)

    def finish(self) -> bytes:
        return self._resampler.flush() if self._resampler else b""


class WavEncoder:
    """A WAV stream at the first chunk's rate; its sizes say "until the end", as OpenAI's do."""

    def __init__(self) -> None:
        self._pcm: PcmEncoder | None = None

    def feed(self, chunk: AudioChunk) -> bytes:
        if self._pcm is None:
            self._pcm = PcmEncoder(chunk.sample_rate)
            return wav_header(chunk.sample_rate) + self._pcm.feed(chunk)
        return self._pcm.feed(chunk)

    def finish(self) -> bytes:
        return self._pcm.finish() if self._pcm else wav_header(PCM_RATE)


def wav_header(rate: int, data_size: int = STREAMING_SIZE) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV file."""
    riff_size = STREAMING_SIZE if data_size == STREAMING_SIZE else 36 + data_size
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
        + struct.pack("<4sI", b"data", data_size)
    )


class _Sink:
    """A write-only, unseekable file for PyAV: the muxer streams instead of seeking back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class AvEncoder:
    """mp3, Ogg Opus, AAC (ADTS) or FLAC through PyAV, flushed after every packet."""

    def __init__(self, container: str, codec: str, rate: int | None, options: dict[str, str]):
        self._format = (container, codec, rate, options)
        self._sink = _Sink()
        self._container: Any = None
        self._stream: Any = None

    def _open(self, rate: int) -> None:
        import av

        container, codec, fixed_rate, options = self._format
        self._container = av.open(
            self._sink, "w", format=container, options={"flush_packets": "1", **options}
        )
        self._stream = self._container.add_stream(codec, rate=fixed_rate or rate, layout="mono")

    def feed(self, chunk: AudioChunk) -> bytes:
        import av

        if self._container is None:
            self._open(chunk.sample_rate)
        if chunk.pcm:
            samples = chunk.to_int16().reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = chunk.sample_rate  # PyAV converts to the encoder's format and rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        if self._container is None:
            self._open(PCM_RATE)
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()
