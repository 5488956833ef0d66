"""The echo canceller passes the microphone through untouched where the speaker's sound does not
come back into it (headphones, a far speaker): a fresh AEC3 takes a user speaking over playback
for echo and removes much of them, even with no echo at all. Where the room echoes, it stays in."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import steady_replies, word_error_rate

from assistant.audio.codec import concat, decode_file, resample
from assistant.audio.echo import BLOCK, ECHO_RATE, WebRtcEchoCanceller
from assistant.audio.echo_presence import QUIET_AFTER_ECHO, EchoPresence
from assistant.bench.echo_rig import REPLY_TEXTS, room_impulse_response, through_the_canceller
from assistant.types import AudioChunk

USER_TEXT = "Stop. Please stop talking now."
NOISE_DBFS = -65.0  # a quiet room's microphone


@pytest.fixture(scope="module")
def reply(tts) -> np.ndarray:
    """Six seconds and more of the assistant's voice, int16 at the canceller's rate."""
    text = "Once upon a time, in a land far away, there lived a dragon who loved to read old books."
    spoken = resample(concat(tts.synthesize(text)), ECHO_RATE)
    return spoken.to_int16()


@pytest.fixture(scope="module")
def steady_reply(tmp_path_factory) -> np.ndarray:
    """Two sentences (float, int16 scale), the same samples every run."""
    spoken = steady_replies(tmp_path_factory.mktemp("steady"), REPLY_TEXTS[:2], ECHO_RATE)
    return np.concatenate(spoken).astype(float)


@pytest.fixture(scope="module")
def user(espeak) -> np.ndarray:
    return resample(decode_file(espeak(USER_TEXT, "stop")), ECHO_RATE).to_int16()


def _noise(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(count) * 32768 * 10 ** (NOISE_DBFS / 20)


def _presence_over(far: np.ndarray, mic: np.ndarray) -> list[bool]:
    presence, verdicts = EchoPresence(BLOCK, ECHO_RATE), []
    for start in range(0, len(far) - BLOCK + 1, BLOCK):
        presence.hear(mic[start : start + BLOCK], far[start : start + BLOCK])
        verdicts.append(presence.echo_free)
    return verdicts


def test_with_no_echo_a_user_over_a_first_reply_is_heard_whole(reply, user, stt):
    """Two seconds into the first reply, with nothing of it in the microphone: the user's words
    reach speech-to-text whole (AEC3 alone lost "Stop. Please" or all of it, 3 of 3 replies)."""
    start = 2 * ECHO_RATE
    mic = _noise(len(reply))
    mic[start : start + len(user)] += user[: len(reply) - start]
    cleaned = through_the_canceller(WebRtcEchoCanceller(), reply, mic.astype(np.int16), ECHO_RATE)
    around = cleaned[start - ECHO_RATE // 10 : start + len(user) + ECHO_RATE // 10]
    heard = stt.transcribe(AudioChunk(around.astype("<i2").tobytes(), ECHO_RATE)).text
    assert word_error_rate(USER_TEXT, heard) <= 0.2, heard


@pytest.mark.parametrize("level_db", [-6.0, 0.0, 6.0])
def test_where_the_room_echoes_the_canceller_stays_in(reply, level_db):
    """An echo as loud as the rig's (-6 to +6 dB against a user at a normal level) over a quiet
    room's noise: never "no echo", and the canceller removes it."""
    far = np.concatenate([np.zeros(ECHO_RATE), reply]).astype(np.int16)  # the user's question
    echo = np.convolve(far.astype(float), room_impulse_response(0.05, ECHO_RATE))[: len(far)]
    gain = 10 ** (level_db / 20) * 0.1 * 32768 / np.sqrt(np.mean(echo[np.abs(echo) > 300] ** 2))
    mic = (echo * gain + _noise(len(far))).astype(np.int16)
    assert not any(_presence_over(far, mic))
    cleaned = through_the_canceller(WebRtcEchoCanceller(), far, mic, ECHO_RATE)
    second_half = slice(len(cleaned) // 2, len(cleaned))
    removed = np.sum(mic[second_half].astype(float) ** 2) / np.sum(cleaned[second_half] ** 2.0)
    assert 10 * np.log10(removed) > 10


def test_no_echo_is_said_after_a_second_of_playback_and_an_echo_takes_it_back_for_10_s():
    rng = np.random.default_rng(1)
    bursts = (np.sin(np.arange(12 * ECHO_RATE) * 2 * np.pi * 3 / ECHO_RATE) > 0).astype(float)
    far = (rng.standard_normal(12 * ECHO_RATE) * 3000 * bursts).astype(np.int16)
    quiet = _noise(len(far)).astype(np.int16)
    assert not any(_presence_over(np.zeros_like(far), quiet))  # nothing played: nothing known
    verdicts = _presence_over(far, quiet)
    first_free = verdicts.index(True) * BLOCK / ECHO_RATE
    assert 0.5 <= first_free <= 1.5, first_free  # after ~1 s of playback, and from then on
    assert all(verdicts[verdicts.index(True) :])
    presence = EchoPresence(BLOCK, ECHO_RATE)  # headphones unplugged: the canceller goes back in
    for start in range(0, len(far) - BLOCK + 1, BLOCK):
        presence.hear(quiet[start : start + BLOCK], far[start : start + BLOCK])
    assert presence.echo_free
    echoed = (np.roll(far, 480) * 0.5 + quiet).astype(np.int16)  # 30 ms later, at -6 dB
    for start in range(0, 3 * ECHO_RATE, BLOCK):
        presence.hear(echoed[start : start + BLOCK], far[start : start + BLOCK])
        if not presence.echo_free:
            break
    assert start / ECHO_RATE <= 0.5, start / ECHO_RATE  # at its first judgement
    judged, step = 0, BLOCK * 25  # judged every 0.25 s: the echo gone, it takes 10 s to trust
    while not presence.echo_free and judged < 2 * QUIET_AFTER_ECHO:
        start = judged * step % (len(far) - step)
        presence.hear(quiet[start : start + step], far[start : start + step])
        judged += 1
    assert QUIET_AFTER_ECHO <= judged < 2 * QUIET_AFTER_ECHO, judged


def test_one_peak_alone_is_chance_two_in_a_row_are_an_echo(monkeypatch):
    """The decision on the judgements (their values set: a voice's onset in a silent microphone
    once peaked at 11.8 with no echo, which sent that user's words through AEC3)."""
    verdicts = _verdicts_on_peaks(monkeypatch, [3.0, 3.0, 3.0, 11.8, 4.0, 4.0, 12.0, 12.0])
    # judged from the second call (0.5 s played): three quiet judgements, then 11.8 alone
    # changes nothing, and 12.0 twice in a row brings the canceller back
    assert verdicts == [False, False, False, True, True, True, True, True, False], verdicts


def _wandering_echo(far: np.ndarray, seed: int, jitter_ms: float, hop_s: tuple[float, float]):
    """The room's echo of `far` (30 ms, a decaying tail, at a normal level) whose delay steps by
    up to `jitter_ms` either way every `hop_s` seconds, as in the live test rig, where the
    devices' buffers run short and catch up."""
    rng = np.random.default_rng(seed)
    wet = np.convolve(far, room_impulse_response(0.03, ECHO_RATE))[: len(far)]
    echo, start = np.zeros(len(far)), 0
    while start < len(far):
        shift = round(rng.uniform(-jitter_ms, jitter_ms) * ECHO_RATE / 1000)
        end = min(len(far), start + round(rng.uniform(*hop_s) * ECHO_RATE))
        source = np.arange(start, end) - shift
        inside = (source >= 0) & (source < len(far))
        echo[start:end][inside] = wet[source[inside]]
        start = end
    return echo * 0.1 * 32768 / np.sqrt(np.mean(echo[np.abs(echo) > 300] ** 2))


@pytest.mark.parametrize("jitter_ms,hop_s", [(3.0, (0.1, 0.3)), (10.0, (0.05, 0.15))])
def test_an_echo_whose_delay_wanders_is_never_taken_for_no_echo(steady_reply, jitter_ms, hop_s):
    """Its correlation peaks lower (z 7-10 against 25-30 for a steady one): with "no echo" said
    on any peak under ECHO_Z, the first reply's echo went through untouched in 7 of these 12
    rooms (and in 3 of 6 live talks at 0 dB, where the assistant then took itself for the user)."""
    far = np.concatenate([np.zeros(ECHO_RATE), steady_reply])
    for seed in range(6):
        echo = _wandering_echo(far, seed, jitter_ms, hop_s)
        mic = (echo + _noise(len(far), seed)).astype(np.int16)
        assert not any(_presence_over(far.astype(np.int16), mic)), seed


def test_unclear_judgements_never_add_up_to_no_echo(monkeypatch):
    """The live test rig's first reply (its judgements' peaks, recorded) is never "no echo"; an
    unclear peak restarts the count of clear ones, but once "no echo" is said only an echo heard
    takes it back."""
    live = [9.4, 7.2, 10.3, 9.5, 9.3, 9.6, 9.3, 7.9, 7.8, 8.9]
    later = [4.0, 4.0, 7.5, 4.0, 4.0, 4.0, 8.0, 11.0, 4.0]
    verdicts = _verdicts_on_peaks(monkeypatch, live + later)
    assert verdicts == [False] * 16 + [True] * 4, verdicts


def _verdicts_on_peaks(monkeypatch, peaks: list[float]) -> list[bool]:
    """`echo_free` after each of len(peaks) + 1 calls of 0.25 s of playback, the judgements'
    peaks set to `peaks` (judged from the second call, once 0.5 s has been played)."""
    from assistant.audio import echo_presence

    values = iter(peaks)
    monkeypatch.setattr(echo_presence, "echo_peak", lambda near, far, rate: (next(values), 0.2))
    presence, step = EchoPresence(BLOCK, ECHO_RATE), ECHO_RATE // 4  # one judgement a call
    far, near = np.full(step, 3000, dtype=np.int16), np.zeros(step, dtype=np.int16)
    verdicts = []
    for _ in range(len(peaks) + 1):
        presence.hear(near, far)
        verdicts.append(presence.echo_free)
    return verdicts
