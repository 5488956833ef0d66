"""Fuzzing the audio decoder: random bytes, real WAV/FLAC/MP3/OGG files truncated and mutated,
and absurd WAV headers. Every input gives audio or a clear AudioInputError, never another
exception, and never more decoded audio than the codec's limit."""

from __future__ import annotations

import struct

import fuzzing
import numpy as np
import pytest
from conftest import encode_audio
from hypothesis import example, given
from hypothesis import strategies as st

from assistant.audio.codec import MAX_DECODED_SECONDS, decode_bytes, decode_file
from assistant.errors import AudioInputError
from assistant.types import AudioChunk

RATE = 16000
FORMATS = {
    "wav": ("pcm_s16le", 16000, 1),
    "flac": ("flac", 16000, 1),
    "mp3": ("libmp3lame", 22050, 1),
    "ogg": ("vorbis", 48000, 2),
}


@pytest.fixture(scope="module")
def real_files(tmp_path_factory) -> dict[str, bytes]:
    """Half a second of a tone in each supported format."""
    directory = tmp_path_factory.mktemp("fuzz-audio")
    samples = (8000 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 16000)).astype(np.int16)
    return {
        name: encode_audio(directory / f"tone.{name}", samples, *codec).read_bytes()
        for name, codec in FORMATS.items()
    }


def wav_header(channels: int, rate: int, bits: int, data_size: int, riff_size: int = 36) -> bytes:
    block = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        riff_size + data_size & 0xFFFFFFFF,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        rate,
        (rate * block) & 0xFFFFFFFF,
        block & 0xFFFF,
        bits,
        b"data",
        data_size,
    )


def decodes_or_refuses(data: bytes, name: str = "upload") -> AudioChunk | None:
    """Decode `data`; an AudioInputError is a fine answer, any other exception fails the test."""
    try:
        audio = decode_bytes(data, RATE, name)
    except AudioInputError as error:
        assert str(error), "an AudioInputError without a message"
        return None
    assert audio.sample_rate == RATE
    assert audio.seconds <= MAX_DECODED_SECONDS
    return audio


@fuzzing.scaled(150)
@given(st.binary(max_size=4096))
@example(b"RIFF")
@example(b"ID3" + bytes(20))
@example(b"fLaC" + bytes(60))
@example(b"OggS" + bytes(60))
def test_random_bytes_decode_or_are_refused(data):
    decodes_or_refuses(data)


@fuzzing.scaled(120)
@given(data=st.data(), kind=st.sampled_from(sorted(FORMATS)))
def test_truncated_and_mutated_real_files_decode_or_are_refused(real_files, data, kind):
    original = real_files[kind]
    cut = data.draw(st.integers(1, len(original)), label="length")
    mutated = bytearray(original[:cut])
    for _ in range(data.draw(st.integers(0, 8), label="mutations")):
        position = data.draw(st.integers(0, len(mutated) - 1), label="position")
        mutated[position] = data.draw(st.integers(0, 255), label="byte")
    decodes_or_refuses(bytes(mutated), f"tone.{kind}")


@fuzzing.scaled(80)
@given(
    channels=st.integers(0, 65535),
    rate=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([0, 1, 8, 16, 24, 32, 64, 65535]),
    data_size=st.integers(0, 2**32 - 1),
    body=st.binary(max_size=2048),
)
@example(channels=0, rate=16000, bits=16, data_size=4, body=bytes(4))  # 0 channels
@example(channels=1, rate=1, bits=16, data_size=2048, body=bytes(2048))  # 1 Hz: was 16,000x
@example(channels=1, rate=16000, bits=16, data_size=2**31, body=bytes(64))  # 2 GB declared
@example(channels=1, rate=16000, bits=16, data_size=0xFFFFFFFF, body=bytes(64))  # streaming
def test_absurd_wav_headers_are_refused_with_a_clear_error(channels, rate, bits, data_size, body):
    decodes_or_refuses(wav_header(channels, rate, bits, data_size) + body, "absurd.wav")


def test_a_one_hertz_header_is_refused_before_resampling():
    """Regression: a 1 Hz WAV was resampled to 16 kHz, 16,000 output samples per input sample
    (a 25 MB upload would have asked for hundreds of GB)."""
    data = wav_header(1, 1, 16, 4096) + bytes(4096)
    with pytest.raises(AudioInputError, match="sample rate of 1 Hz"):
        decode_bytes(data, RATE, "slow.wav")


def test_a_file_on_disk_is_checked_the_same_way(tmp_path):
    path = tmp_path / "slow.wav"
    path.write_bytes(wav_header(1, 1, 16, 4096) + bytes(4096))
    with pytest.raises(AudioInputError, match=r"slow\.wav declares a sample rate of 1 Hz"):
        decode_file(path)
