"""The echo canceller pairs the microphone with what the speaker played at the same moment, by
the two streams' clocks: a speaker that underruns (the device plays silence that no callback
handed it) or a microphone read in late bursts must not shift the pairing. (Pairing by counting
samples did: each underrun moved the reference a block later, until the echo came back before
its reference and the live rig's assistant took its own voice for the user.)"""

from __future__ import annotations

import numpy as np

from assistant.audio.echo import ECHO_RATE, WebRtcEchoCanceller
from assistant.types import AudioChunk

BLOCK = ECHO_RATE // 50  # 20 ms, as the devices' callbacks
SECONDS = 12
ROOM_DELAY = int(0.03 * ECHO_RATE)


def _speech_like(seconds: int) -> np.ndarray:
    """Noise in syllable-long bursts: broadband like a voice, with pauses."""
    count = seconds * ECHO_RATE
    envelope = np.sin(np.arange(count) * 2 * np.pi * 3 / ECHO_RATE) > 0
    return np.random.default_rng(0).standard_normal(count) * 3000 * envelope


def _run(underrun_s: float, mic_burst_blocks: int) -> float:
    """Echo reduction (dB) over the second half, with an underrun of `underrun_s` every second
    and the microphone read `mic_burst_blocks` blocks at a time (a busy event loop)."""
    far = _speech_like(SECONDS).astype(np.int16)
    room = np.zeros(int((SECONDS + 2) * ECHO_RATE))  # what the speaker sounds, by time
    events, clock = [], 0.0
    for start in range(0, len(far), BLOCK):
        if start and start % ECHO_RATE == 0:
            clock += underrun_s  # the device played silence meanwhile
        block = far[start : start + BLOCK]
        at = round(clock * ECHO_RATE)
        room[at : at + len(block)] = block
        events.append((clock, 0, block))
        clock += BLOCK / ECHO_RATE
    total = round(clock * ECHO_RATE) // BLOCK * BLOCK
    mic = np.zeros(total)
    mic[ROOM_DELAY:] = 0.7 * room[: total - ROOM_DELAY]
    for start in range(0, total, BLOCK):  # arrived at its end, cleaned late in bursts
        cleaned_at = (start // (BLOCK * mic_burst_blocks) + 1) * BLOCK * mic_burst_blocks
        arrived = (start + BLOCK) / ECHO_RATE
        events.append((cleaned_at / ECHO_RATE, 1, mic[start : start + BLOCK], arrived))
    canceller, cleaned = WebRtcEchoCanceller(), []
    for event in sorted(events, key=lambda e: (e[0], e[1])):
        if event[1] == 0:
            canceller.played(event[2], ECHO_RATE, event[0])
        else:
            chunk = AudioChunk(event[2].astype("<i2").tobytes(), ECHO_RATE)
            cleaned.append(canceller.clean(chunk, event[3]).to_int16())
    out = np.concatenate(cleaned).astype(float)
    half = slice(len(out) // 2, len(out))
    return float(10 * np.log10(np.sum(mic[half] ** 2) / max(np.sum(out[half] ** 2), 1.0)))


def test_the_echo_is_removed_when_both_streams_keep_time():
    assert _run(underrun_s=0.0, mic_burst_blocks=1) > 20


def test_speaker_underruns_and_late_microphone_reads_do_not_lose_the_echo():
    # 11 underruns of 100 ms: counting samples would have shifted the pairing by 1.1 s
    assert _run(underrun_s=0.1, mic_burst_blocks=5) > 20
