"""Pure audio helpers: decode any file to mono PCM, resample, concatenate, write WAV."""

from __future__ import annotations

import io
import os
import struct
import tempfile
import wave
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import AudioInputError
from ..types import AudioChunk

SUPPORTED_FORMATS = "wav, flac, mp3 or ogg"
SHORT_CHUNK = 256  # samples
MIN_RATE, MAX_RATE = 1000, 768000  # Hz: outside these a header is absurd, not audio
MAX_DECODED_SECONDS = 4 * 3600  # longer audio is refused while decoding, not held in memory


def decode_file(path: str | Path, sample_rate: int | None = None) -> AudioChunk:
    """Decode an audio file to mono int16, resampled to `sample_rate` (Hz) if given."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(64 * 1024)
    except OSError as error:
        raise AudioInputError(f"cannot read {path}: {error.strerror or error}") from None
    if size == 0:
        raise AudioInputError(f"{path} is empty (0 bytes); expected audio ({SUPPORTED_FORMATS})")
    _check_wav_complete(head, size, str(path))
    return _decode(str(path), str(path), sample_rate)


def decode_bytes(data: bytes, sample_rate: int | None = None, name: str = "audio") -> AudioChunk:
    """Decode an in-memory audio file (for uploads); `name` is used in error messages."""
    if not data:
        raise AudioInputError(f"{name} is empty (0 bytes); expected audio ({SUPPORTED_FORMATS})")
    _check_wav_complete(data[: 64 * 1024], len(data), name)
    return _decode(io.BytesIO(data), name, sample_rate)


def _decode(source: str | io.BytesIO, name: str, sample_rate: int | None) -> AudioChunk:
    import av  # PyAV ships with faster-whisper; imported lazily to keep start-up fast

    try:
        with av.open(source, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioInputError(f"{name} has no audio stream ({SUPPORTED_FORMATS} expected)")
            stream = container.streams.audio[0]
            rate = sample_rate or _checked_rate(stream.codec_context.sample_rate, name)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            parts: list[bytes] = []
            limit = 2 * rate * MAX_DECODED_SECONDS  # bytes of int16 output
            size = 0
            for frame in container.decode(stream):
                _checked_rate(frame.sample_rate, name)
                frame.pts = None
                for out in resampler.resample(frame):
                    parts.append(_frame_bytes(out))
                    size += len(parts[-1])
                if size > limit:
                    raise AudioInputError(
                        f"{name} is longer than {MAX_DECODED_SECONDS // 3600} hours of audio"
                    )
            parts.extend(_frame_bytes(out) for out in resampler.resample(None))
    except AudioInputError:
        raise
    except (av.error.FFmpegError, ValueError, EOFError, IndexError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise AudioInputError(
            f"{name} is not a readable audio file ({SUPPORTED_FORMATS}): {reason}"
        ) from None
    pcm = b"".join(parts)
    if not pcm:
        raise AudioInputError(f"{name} contains no audio samples")
    return AudioChunk(pcm, rate)


def _checked_rate(rate: int | None, name: str) -> int:
    """A sample rate (Hz) a real recording can have; an absurd header is refused before the
    resampler multiplies it into gigabytes (1 Hz audio resampled to 16 kHz)."""
    if not rate or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioInputError(
            f"{name} declares a sample rate of {rate or 0} Hz; audio has "
            f"{MIN_RATE} to {MAX_RATE} Hz ({SUPPORTED_FORMATS} expected)"
        )
    return rate


def _frame_bytes(frame) -> bytes:
    """The int16 samples of a packed mono s16 frame, without the line padding."""
    return bytes(frame.planes[0])[: frame.samples * 2]


def riff_chunks(head: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(id, declared size, offset of its data) of each chunk header found in the start of a
    WAV file, up to and including the `data` chunk; nothing if `head` is not a WAV."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= len(head):
        chunk_id, chunk_size = struct.unpack_from("<4sI", head, offset)
        yield chunk_id, chunk_size, offset + 8
        if chunk_id == b"data":
            return
        offset += 8 + chunk_size + (chunk_size & 1)


def _check_wav_complete(head: bytes, size: int, name: str) -> None:
    """Reject a WAV file whose data chunk is shorter than its header declares."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    for chunk_id, chunk_size, data_offset in riff_chunks(head):
        if chunk_id == b"data":
            streaming = chunk_size in (0, 0xFFFFFFFF)
            if not streaming and size < data_offset + chunk_size:
                raise AudioInputError(
                    f"{name} is truncated: its header declares {chunk_size} bytes of audio "
                    f"but only {max(size - data_offset, 0)} are present"
                )
            return
    if size < 44:
        raise AudioInputError(f"{name} is truncated: the WAV header is incomplete")


def resample(audio: AudioChunk, sample_rate: int) -> AudioChunk:
    """The same audio at another rate (Hz), through libswresample."""
    if not audio.pcm:
        return AudioChunk(b"", sample_rate)
    if audio.sample_rate == sample_rate:
        return audio
    if audio.samples < SHORT_CHUNK:
        return _interpolate(audio, sample_rate)
    import av

    frame = av.AudioFrame.from_ndarray(audio.to_int16().reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = audio.sample_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    parts = [_frame_bytes(out) for out in resampler.resample(frame)]
    parts.extend(_frame_bytes(out) for out in resampler.resample(None))
    return AudioChunk(b"".join(parts), sample_rate)


def _interpolate(audio: AudioChunk, sample_rate: int) -> AudioChunk:
    """Linear resampling, for chunks too short for libswresample (it holds them back)."""
    count = max(round(audio.samples * sample_rate / audio.sample_rate), 1)
    positions = np.linspace(0, audio.samples - 1, count)
    samples = np.interp(positions, np.arange(audio.samples), audio.to_int16())
    return AudioChunk(np.round(samples).astype("<i2").tobytes(), sample_rate)


def concat(chunks: Iterable[AudioChunk], sample_rate: int | None = None) -> AudioChunk:
    """Join chunks into one, resampling any whose rate differs from the first (or `sample_rate`)."""
    parts: list[bytes] = []
    rate = sample_rate
    for chunk in chunks:
        rate = rate or chunk.sample_rate
        parts.append(resample(chunk, rate).pcm)
    return AudioChunk(b"".join(parts), rate or 16000)


def silence(seconds: float, sample_rate: int) -> AudioChunk:
    return AudioChunk(bytes(2 * round(seconds * sample_rate)), sample_rate)


def rms(audio: AudioChunk) -> float:
    """Root-mean-square level in [0, 1]."""
    if not audio.pcm:
        return 0.0
    samples = audio.to_float32()
    return float(np.sqrt(np.mean(samples * samples)))


def wav_bytes(audio: AudioChunk) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(audio.sample_rate)
        writer.writeframes(audio.pcm)
    return buffer.getvalue()


def write_wav(path: str | Path, audio: AudioChunk) -> None:
    """Write a WAV file atomically: a reader never sees half a file, a failure leaves none."""
    write_atomically(Path(path), wav_bytes(audio))


def write_atomically(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class StreamResampler:
    """Resample a live stream chunk by chunk, keeping the filter state between chunks."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._resampler = None
        if in_rate != out_rate:
            import av

            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=out_rate)

    def push(self, pcm: bytes) -> bytes:
        """Resampled int16 mono PCM for the next piece of the stream (may lag by a few ms)."""
        if self._resampler is None or not pcm:
            return pcm
        import av

        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.in_rate
        return b"".join(_frame_bytes(out) for out in self._resampler.resample(frame))

    def flush(self) -> bytes:
        """What the filter still holds, at the end of the stream."""
        if self._resampler is None:
            return b""
        return b"".join(_frame_bytes(out) for out in self._resampler.resample(None))
