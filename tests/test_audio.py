"""Tests for assistant.audio.codec: decoding real files made with PyAV, resampling, WAV output."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import encode_audio

from assistant.audio.codec import (
    concat,
    decode_bytes,
    decode_file,
    resample,
    rms,
    silence,
    wav_bytes,
    write_wav,
)
from assistant.errors import AudioInputError
from assistant.types import AudioChunk

SINE_RMS = 0.5 / np.sqrt(2)  # a sine of amplitude 0.5


def write_sine(
    path: Path,
    codec: str,
    rate: int,
    *,
    channels: int = 2,
    seconds: float = 1.0,
    freq: float = 440.0,
) -> Path:
    """Encode a sine of amplitude 0.5 (the same on every channel) into `path` with PyAV."""
    wave_ = 0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)
    return encode_audio(path, (wave_ * 32767).astype(np.int16), codec, rate, channels)


def peak_frequency(audio: AudioChunk) -> float:
    samples = audio.to_float32()
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum)) * audio.sample_rate / len(samples)


def sine_chunk(freq: float, rate: int, seconds: float = 1.0) -> AudioChunk:
    t = np.arange(int(rate * seconds)) / rate
    return AudioChunk.from_float32(0.5 * np.sin(2 * np.pi * freq * t), rate)


@pytest.fixture
def wav_file(tmp_path) -> Path:
    return write_sine(tmp_path / "tone.wav", "pcm_s16le", 22050, seconds=1.0)


# decode_file

FORMATS = [
    pytest.param("wav", "pcm_s16le", 8000, id="wav-8k"),
    pytest.param("wav", "pcm_s16le", 44100, id="wav-44k"),
    pytest.param("flac", "flac", 22050, id="flac-22k"),
    pytest.param("mp3", "libmp3lame", 44100, id="mp3-44k"),
    pytest.param("ogg", "vorbis", 48000, id="ogg-vorbis-48k"),
    pytest.param("ogg", "libopus", 48000, id="ogg-opus-48k"),
]


@pytest.mark.parametrize(("ext", "codec", "rate"), FORMATS)
def test_decode_file_gives_16k_mono_of_right_duration(tmp_path, ext, codec, rate):
    path = write_sine(tmp_path / f"tone.{ext}", codec, rate, channels=2, seconds=1.5)
    audio = decode_file(path, 16000)
    assert audio.sample_rate == 16000
    assert audio.seconds == pytest.approx(1.5, abs=0.05)
    assert rms(audio) == pytest.approx(SINE_RMS, abs=0.05)  # mono mix of equal channels
    assert peak_frequency(audio) == pytest.approx(440, abs=5)


@pytest.mark.parametrize(("ext", "codec", "rate"), FORMATS)
def test_decode_file_keeps_native_rate_without_sample_rate(tmp_path, ext, codec, rate):
    path = write_sine(tmp_path / f"tone.{ext}", codec, rate, channels=2, seconds=1.0)
    audio = decode_file(path)
    assert audio.sample_rate == rate
    assert audio.samples == pytest.approx(rate, abs=0.05 * rate)  # mono: one sample per frame
    assert peak_frequency(audio) == pytest.approx(440, abs=5)


def test_decode_file_mono_input(tmp_path):
    path = write_sine(tmp_path / "mono.wav", "pcm_s16le", 16000, channels=1, seconds=0.5)
    audio = decode_file(path)
    assert (audio.sample_rate, audio.samples) == (16000, 8000)
    assert rms(audio) == pytest.approx(SINE_RMS, abs=0.01)


def test_decode_file_accepts_str_path(wav_file):
    assert decode_file(str(wav_file), 16000).seconds == pytest.approx(1.0, abs=0.05)


def test_decode_file_of_wav_written_by_write_wav_is_lossless(tmp_path):
    original = sine_chunk(300, 16000, 0.25)
    write_wav(tmp_path / "out.wav", original)
    assert decode_file(tmp_path / "out.wav") == original


# decode_file errors


def test_decode_empty_file_says_empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty"):
        decode_file(path)


def test_decode_wav_cut_in_half_says_truncated(tmp_path, wav_file):
    data = wav_file.read_bytes()
    path = tmp_path / "half.wav"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioInputError, match="truncated") as caught:
        decode_file(path)
    assert str(path) in str(caught.value)


def test_decode_wav_with_partial_header_says_truncated(tmp_path, wav_file):
    path = tmp_path / "header.wav"
    path.write_bytes(wav_file.read_bytes()[:20])
    with pytest.raises(AudioInputError, match="truncated"):
        decode_file(path)


def test_decode_wav_header_without_samples_says_truncated(tmp_path):
    path = tmp_path / "header-only.wav"
    path.write_bytes(wav_bytes(sine_chunk(440, 16000, 0.5))[:44])
    with pytest.raises(AudioInputError, match="truncated"):
        decode_file(path)


def test_decode_random_bytes_says_not_readable(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioInputError, match="not a readable audio file"):
        decode_file(path)


def test_decode_text_named_wav_says_not_readable(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are some notes, not audio\n" * 40)
    with pytest.raises(AudioInputError, match="not a readable audio file"):
        decode_file(path)


def test_decode_text_file_says_it_is_not_audio(tmp_path):
    # FFmpeg opens a .txt file as a "tty" video, so the message may name the missing stream.
    path = tmp_path / "notes.txt"
    path.write_text("these are some notes, not audio\n" * 40)
    with pytest.raises(AudioInputError, match=r"not a readable audio file|has no audio stream"):
        decode_file(path)


def test_decode_flac_cut_short_says_not_readable(tmp_path):
    data = write_sine(tmp_path / "tone.flac", "flac", 22050).read_bytes()
    path = tmp_path / "short.flac"
    path.write_bytes(data[:300])
    with pytest.raises(AudioInputError, match="not a readable audio file"):
        decode_file(path)


def test_decode_missing_file_says_cannot_read(tmp_path):
    path = tmp_path / "missing.wav"
    with pytest.raises(AudioInputError, match="cannot read") as caught:
        decode_file(path)
    assert "missing.wav" in str(caught.value)


def test_decode_directory_says_cannot_read(tmp_path):
    with pytest.raises(AudioInputError, match="cannot read"):
        decode_file(tmp_path)


def test_decode_error_is_a_user_error_not_a_usage_error(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioInputError) as caught:
        decode_file(path)
    assert caught.value.exit_code == 1


# decode_bytes


def test_decode_bytes_of_wav(wav_file):
    audio = decode_bytes(wav_file.read_bytes(), 16000)
    assert audio.sample_rate == 16000
    assert audio.seconds == pytest.approx(1.0, abs=0.05)
    assert peak_frequency(audio) == pytest.approx(440, abs=5)


def test_decode_bytes_of_flac_keeps_native_rate(tmp_path):
    data = write_sine(tmp_path / "tone.flac", "flac", 44100, seconds=0.5).read_bytes()
    audio = decode_bytes(data)
    assert audio.sample_rate == 44100
    assert audio.seconds == pytest.approx(0.5, abs=0.05)


def test_decode_bytes_matches_decode_file(wav_file):
    assert decode_bytes(wav_file.read_bytes(), 16000) == decode_file(wav_file, 16000)


def test_decode_bytes_empty_names_upload():
    with pytest.raises(AudioInputError, match=r"upload\.wav is empty"):
        decode_bytes(b"", name="upload.wav")


def test_decode_bytes_truncated_wav(wav_file):
    data = wav_file.read_bytes()
    with pytest.raises(AudioInputError, match="truncated"):
        decode_bytes(data[: len(data) // 2])


def test_decode_bytes_not_audio_names_upload():
    with pytest.raises(AudioInputError, match=r"clip\.mp3 is not a readable audio file"):
        decode_bytes(b"hello, this is plain text and not audio\n" * 20, name="clip.mp3")


# resample


def test_resample_changes_length_by_rate_ratio():
    audio = sine_chunk(1000, 22050, 1.0)
    out = resample(audio, 16000)
    assert out.sample_rate == 16000
    assert out.samples == pytest.approx(16000, abs=2)


def test_resample_keeps_frequency():
    out = resample(sine_chunk(1000, 22050, 1.0), 16000)
    assert peak_frequency(out) == pytest.approx(1000, abs=2)


def test_resample_up_keeps_frequency_and_level():
    out = resample(sine_chunk(440, 8000, 1.0), 48000)
    assert out.samples == pytest.approx(48000, abs=2)
    assert peak_frequency(out) == pytest.approx(440, abs=2)
    assert rms(out) == pytest.approx(SINE_RMS, abs=0.01)


def test_resample_to_same_rate_is_identity():
    audio = sine_chunk(440, 16000, 0.1)
    assert resample(audio, 16000) == audio


def test_resample_empty_gives_empty_at_new_rate():
    assert resample(AudioChunk(b"", 8000), 16000) == AudioChunk(b"", 16000)


def test_resample_short_chunk_is_not_lost():
    audio = sine_chunk(440, 48000, 64 / 48000)  # 64 samples
    assert resample(audio, 16000).samples == pytest.approx(21, abs=2)


# concat


def test_concat_same_rate_joins_samples_in_order():
    first, second = sine_chunk(440, 16000, 0.1), silence(0.2, 16000)
    joined = concat([first, second])
    assert joined == AudioChunk(first.pcm + second.pcm, 16000)


def test_concat_resamples_to_first_chunk_rate():
    joined = concat([sine_chunk(440, 16000, 0.5), sine_chunk(440, 22050, 1.0), silence(0.25, 8000)])
    assert joined.sample_rate == 16000
    assert joined.seconds == pytest.approx(1.75, abs=0.01)


def test_concat_to_given_rate():
    joined = concat([sine_chunk(440, 22050, 0.5), sine_chunk(440, 8000, 0.5)], sample_rate=24000)
    assert joined.sample_rate == 24000
    assert joined.seconds == pytest.approx(1.0, abs=0.01)
    assert peak_frequency(joined) == pytest.approx(440, abs=3)


def test_concat_accepts_a_generator():
    joined = concat(silence(0.1, 16000) for _ in range(3))
    assert joined.samples == 4800


def test_concat_of_nothing_is_empty_16k():
    assert concat([]) == AudioChunk(b"", 16000)


# rms and silence


def test_rms_of_constant_signal():
    assert rms(AudioChunk.from_float32(np.full(1000, 0.5), 16000)) == pytest.approx(0.5, abs=1e-3)


def test_rms_of_sine():
    assert rms(sine_chunk(440, 16000)) == pytest.approx(SINE_RMS, abs=1e-3)


def test_rms_of_full_scale_square_is_about_one():
    square = AudioChunk.from_float32(np.tile([1.0, -1.0], 500), 16000)
    assert rms(square) == pytest.approx(1.0, abs=1e-3)


def test_rms_of_empty_and_silence_is_zero():
    assert rms(AudioChunk(b"", 16000)) == 0.0
    assert rms(silence(1.0, 16000)) == 0.0


def test_silence_has_requested_length_of_zeros():
    audio = silence(0.25, 22050)
    assert audio.sample_rate == 22050
    assert audio.samples == round(0.25 * 22050)
    assert not audio.to_int16().any()


# wav_bytes and write_wav


def read_wav(source) -> tuple[int, int, int, bytes]:
    with wave.open(source, "rb") as reader:
        return (
            reader.getnchannels(),
            reader.getsampwidth(),
            reader.getframerate(),
            reader.readframes(reader.getnframes()),
        )


def test_wav_bytes_is_mono_16bit_wav_of_the_samples(tmp_path):
    audio = sine_chunk(440, 22050, 0.2)
    path = tmp_path / "check.wav"
    path.write_bytes(wav_bytes(audio))
    assert read_wav(str(path)) == (1, 2, 22050, audio.pcm)


def test_write_wav_writes_readable_file(tmp_path):
    audio = sine_chunk(440, 16000, 0.5)
    write_wav(tmp_path / "out.wav", audio)
    assert read_wav(str(tmp_path / "out.wav")) == (1, 2, 16000, audio.pcm)


def test_write_wav_accepts_str_path(tmp_path):
    write_wav(str(tmp_path / "out.wav"), silence(0.1, 8000))
    assert read_wav(str(tmp_path / "out.wav"))[2:] == (8000, bytes(1600))


def test_write_wav_leaves_no_temp_files(tmp_path):
    write_wav(tmp_path / "out.wav", sine_chunk(440, 16000, 0.1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_wav_replaces_existing_file(tmp_path):
    path = tmp_path / "out.wav"
    path.write_bytes(b"old content that is not a wav file")
    audio = sine_chunk(440, 16000, 0.1)
    write_wav(path, audio)
    assert read_wav(str(path)) == (1, 2, 16000, audio.pcm)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_write_wav_into_missing_directory_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        write_wav(tmp_path / "missing" / "out.wav", silence(0.1, 16000))
    assert list(tmp_path.iterdir()) == []


def test_write_wav_onto_a_directory_raises_and_leaves_no_temp_file(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_wav(tmp_path / "taken", silence(0.1, 16000))
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
