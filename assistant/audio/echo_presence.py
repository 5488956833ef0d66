"""Whether the speaker's sound comes back into the microphone at all. With headphones, or a
speaker far from the microphone, there is no echo to remove, yet a fresh AEC3 (before it has heard
the room for a few seconds) removes much of a user who speaks over playback: measured offline with
no echo, "Stop. Please stop talking now." said 1-4 s into a first reply lost 1-15 dB and came out
of Whisper as "", "time" or "Please." (README, "Open speakers"). So the canceller passes the
microphone through as it is while the room shows no echo, and goes on learning from it.

An echo is the reference, delayed and filtered by the room: the two signals' generalized
cross-correlation with phase transform (GCC-PHAT, over the speech band) peaks at the echo's delay.
The user's voice and the room's noise do not correlate with the reference, and the level of the
echo does not matter, only its presence: measured on the project's voice with white noise at
-100, -65 and -50 dBFS, the peak's height over the correlation's spread (z) was 3.4-5.2 without an
echo and 3.3-8.1 with a user speaking, against 6.4-16 for an echo 10 dB under the noise, 15-28 for
one as loud as the noise and 23-37 above it (a user speaking over it lowers it in some windows)."""

from __future__ import annotations

import numpy as np

PLAYING_DBFS = -50.0  # a reference block this loud is sound from the speaker
WINDOW_S = 2.0  # the recent audio each judgement reads
EVERY_S = 0.25  # how often it is judged
PLAYED_S = 0.5  # judged only when the speaker played sound for this long within the window
LAGS_S = (-0.05, 0.5)  # the echo's delay after the pairing (AEC3 itself copes with ~0.5 s)
BAND_HZ = (200.0, 4000.0)  # the speech band the correlation is read in
ECHO_Z = 10.0  # a peak this many times the correlation's spread is an echo...
ECHO_JUDGEMENTS = 2  # ... in this many judgements in a row (one alone can be chance: a voice's
# onset in a silent microphone once reached 11.8 with no echo)
QUIET_Z = 6.0  # a judgement says "no echo" only with its peak under this (no echo: 3.4-5.2, a
# user speaking over playback up to 8.1; the live test rig's echo, its delay wandering by a few
# ms as its devices' buffers run short and catch up: 7.2-10, which once said "no echo" and let
# the first reply's echo through to the VAD: the assistant took itself for the user)
QUIET_JUDGEMENTS = 3  # judgements in a row under QUIET_Z before "no echo" is said
QUIET_AFTER_ECHO = 40  # ... once an echo has been heard on this stream (10 s of playback)


def played_seconds(far: np.ndarray, block: int, rate: int) -> float:
    """How long the int16 reference `far` carries sound, in `block`s louder than PLAYING_DBFS."""
    blocks = len(far) // block
    if not blocks:
        return 0.0
    power = np.mean(far[: blocks * block].astype(np.float64).reshape(blocks, block) ** 2, axis=1)
    return float(np.sum(power > (32768 * 10 ** (PLAYING_DBFS / 20)) ** 2)) * block / rate


def echo_peak(near: np.ndarray, far: np.ndarray, rate: int) -> tuple[float, float]:
    """GCC-PHAT of the microphone against the reference over the speech band, at the delays an
    echo may have: its highest peak over its standard deviation, and that peak's delay (s)."""
    earliest, latest = (round(lag * rate) for lag in LAGS_S)
    size = 1 << int(np.ceil(np.log2(len(far) + latest - earliest)))
    cross = np.fft.rfft(near.astype(np.float64), size) * np.conj(np.fft.rfft(far, size))
    frequencies = np.fft.rfftfreq(size, 1 / rate)
    in_band = (frequencies >= BAND_HZ[0]) & (frequencies <= BAND_HZ[1])
    whitened = np.where(in_band, cross / (np.abs(cross) + 1e-12), 0)
    correlation = np.fft.irfft(whitened, size)
    lags = np.concatenate([correlation[earliest:], correlation[:latest]])  # the mic lags
    peak = int(np.argmax(np.abs(lags)))
    return float(np.abs(lags[peak]) / (np.std(lags) + 1e-12)), (peak + earliest) / rate


class EchoPresence:
    """Judges every `EVERY_S`, over the last `WINDOW_S` of microphone audio and the reference
    paired with it, whether the microphone hears the speaker (only while the speaker has played
    for `PLAYED_S` of that window). An echo is heard in `ECHO_JUDGEMENTS` judgements in a row;
    "no echo" is said after `QUIET_JUDGEMENTS` judgements in a row clearly without one (under
    `QUIET_Z`), or `QUIET_AFTER_ECHO` once an echo has been heard; until then the room is taken to
    echo (the safe side: the canceller stays in)."""

    def __init__(self, block: int, rate: int) -> None:
        self._block, self._rate = block, rate
        self._near = np.zeros(0, dtype=np.int16)  # the window judged last
        self._far = np.zeros(0, dtype=np.int16)
        self._unjudged: list[tuple[np.ndarray, np.ndarray]] = []  # heard since then
        self._quiet_run = 0  # judgements without an echo since the last one with it
        self._echo_run = 0  # judgements in a row with a peak over ECHO_Z
        self._echo_heard = False
        self.delay_s: float | None = None  # the echo's delay after the pairing, last heard

    def hear(self, near: np.ndarray, far: np.ndarray) -> None:
        """Microphone samples and the reference paired with them (int16, the same length)."""
        self._unjudged.append((near, far))
        if sum(len(heard) for heard, _ in self._unjudged) < EVERY_S * self._rate:
            return  # the window is put together only when it is judged
        keep = round(WINDOW_S * self._rate)
        self._near = np.concatenate([self._near, *(heard for heard, _ in self._unjudged)])[-keep:]
        self._far = np.concatenate([self._far, *(played for _, played in self._unjudged)])[-keep:]
        self._unjudged = []
        if played_seconds(self._far, self._block, self._rate) < PLAYED_S:
            return
        peak, delay_s = echo_peak(self._near, self._far, self._rate)
        if peak < QUIET_Z:
            self._echo_run, self._quiet_run = 0, self._quiet_run + 1
            return
        self._echo_run = self._echo_run + 1 if peak >= ECHO_Z else 0
        if self._echo_run >= ECHO_JUDGEMENTS:
            self._echo_heard, self._quiet_run, self.delay_s = True, 0, delay_s
        elif not self.echo_free:  # unclear: "no echo" takes clear judgements in a row (once
            self._quiet_run = 0  # said, only an echo heard takes it back)

    @property
    def echo_free(self) -> bool:
        """The microphone has not heard the speaker, judged over enough playback."""
        return self._quiet_run >= (QUIET_AFTER_ECHO if self._echo_heard else QUIET_JUDGEMENTS)
