"""Double talk: the user speaking over the assistant's echo, told apart by a linear echo filter.

AEC3 removes the echo well, but its suppressor cannot tell a voice over a loud echo from the
echo's own remains, and in double talk it removes much of the user too: over the benchmark's echo
at 0 dB, "Please stop talking now." said into a canceller that had learnt the room was missed 1-4
times in 20 and held playback only ~180 ms after its first sound (README, "Open speakers").

A linear adaptive filter models the room's echo path (a two-path, partitioned-block,
frequency-domain NLMS filter, as in Speex's and WebRTC's cancellers), from the echo's delay that
EchoPresence finds on: what it leaves of the microphone, the residual, is the user's voice
untouched and the little of the echo the filter could not model. Where that residual is loud
against the filter's own estimate of the echo and does not follow it (a user talking, not an echo
that moved), and the filter has shown over 1 s of playback that it models this room, the
canceller hands on the residual instead of AEC3's output; everywhere else AEC3's. Where the
room's echo is not linear enough for the filter (a distorting speaker), or its delay keeps moving,
the filter never shows that it models the room, and AEC3 alone goes on as before."""

from __future__ import annotations

import numpy as np

PARTITIONS = 25  # blocks of echo path the filter models: 250 ms from...
LEAD_S = 0.06  # ... this long before the echo's delay after the pairing (audio/echo.py), as
# EchoPresence finds it (in the live test rig ~240 ms: PulseAudio's buffers)
MOVED_S = 0.03  # the echo's delay moved this far from the one the filter learnt: it learns
# again (the pairing moving is told apart: `pairing_moved`). Not less: the correlation's peak
# jumps between the direct sound and reflections 10-25 ms after it, which the filter's 250 ms
# from 60 ms before the delay hold either way (3 ms: 7-22 relearns in a live talk of three
# replies, 3-15 with 30 ms)
LONGEST_DELAY_S = 0.5  # the reference kept for the delay (EchoPresence looks no further)
STEP = 1.0  # the NLMS step of the background filter (normalized by the reference's power)
COPY_BLOCKS = 8  # the background filter this long clearly better: the foreground takes it
BETTER = 0.7  # ... "clearly": its residual under this share of the foreground's
DIVERGED = 8.0  # the background's residual this many times the foreground's this long (double
# talk misleads it): it starts again from the foreground
RESIDUAL_SMOOTHING = 0.35  # the powers compared, smoothed block by block (~25 ms)
ROOM_WINDOW = 100  # blocks of playback (1 s) over which the filter shows it models the room
# (2 s before: a user 2 s into a talk's first reply was heard by the VAD alone; bench --echo,
# 20 first replies: held p50 180 -> 120 ms, no more stutters or misses)...
ROOM_MODELLED_DB = 12.0  # ... when in 3 of 4 of them its estimate is this far over its residual
USER_SHARE = 1.0  # a residual at least as loud as the echo estimate: a user talking
UNCORRELATED = 0.2  # ... and unlike the estimate (their correlation under this): a residual that
# follows the estimate is the echo moved (a new delay the filter has not learnt: in the live test
# rig's replays 0.46-0.82 there, against 0.00-0.01 over a user's voice)
AGAINST_ECHO_DB = 20.0  # ... and no quieter than this under the echo estimate's mean over...
ECHO_WINDOW = 100  # ... this many blocks (1 s)
NOISE_WINDOW = 300  # blocks (3 s) of residual over which its noise floor is read...
NOISE_PERCENTILE = 10  # ... as this percentile, taken off the residual's power before judging,
NOISE_KNOWN = 30  # ... once there are this many blocks
OVER_NOISE = 4.0  # a user's voice: its power this many times the noise floor's (6 dB) at least
HANGOVER_BLOCKS = 10  # double talk lasts this long (100 ms) after its last block
SOUND = 1e-7  # a reference or echo estimate under this power (-70 dBFS) is silence
FLOOR = 1e-6  # the reference's power (-60 dBFS) under which its spectrum steps are not trusted
RESTATE_BLOCKS = 10  # the noise floor and whether the room is modelled: read again this often


class LinearEchoFilter:
    """The room's echo path, learnt from what was played and what the microphone heard, block by
    block (float samples). Two filters: a background one that always adapts, and the foreground
    one that makes the estimate and takes the background's only while that does clearly better,
    so double talk (which misleads adaptation) never spoils the estimate."""

    def __init__(self, block: int, partitions: int = PARTITIONS, step: float = STEP) -> None:
        self._block, self._step = block, step
        bins = block + 1
        self._spectra = np.zeros((partitions, bins), complex)  # the reference, newest first
        self._background = np.zeros((partitions, bins), complex)
        self._foreground = np.zeros((partitions, bins), complex)
        self._previous = np.zeros(block)
        self._constrained = 0  # the partition whose gradient is constrained next
        self._background_power = self._foreground_power = 0.0
        self._better = self._worse = 0

    def process(self, near: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One block: the residual (the microphone less the echo estimate) and the estimate."""
        size = self._block
        spectrum = np.fft.rfft(np.concatenate([self._previous, far]))
        self._previous = far
        self._spectra = np.roll(self._spectra, 1, axis=0)
        self._spectra[0] = spectrum
        background = near - np.fft.irfft((self._spectra * self._background).sum(0))[size:]
        estimate = np.fft.irfft((self._spectra * self._foreground).sum(0))[size:]
        residual = near - estimate
        if float(far @ far) / size < SOUND:  # nothing played: nothing to learn (a step
            return residual, estimate  # normalized by a silent reference would blow up)
        power = (np.abs(self._spectra) ** 2).sum(0)
        error = np.fft.rfft(np.concatenate([np.zeros(size), background]))
        floor = len(self._spectra) * 2 * size * FLOOR
        regularized = power + 1e-2 * power.mean() + floor
        self._background += self._step * np.conj(self._spectra) * (error / regularized)
        taps = np.fft.irfft(self._background[self._constrained])  # one partition a block, as
        taps[size:] = 0  # Speex's MDF: a circular gradient would wrap the echo path around
        self._background[self._constrained] = np.fft.rfft(taps)
        self._constrained = (self._constrained + 1) % len(self._spectra)
        self._compare(float(background @ background), float(residual @ residual))
        return residual, estimate

    def _compare(self, background: float, foreground: float) -> None:
        self._background_power += 0.3 * (background - self._background_power)
        self._foreground_power += 0.3 * (foreground - self._foreground_power)
        better = self._background_power < BETTER * self._foreground_power
        self._better = self._better + 1 if better else 0
        if self._better >= COPY_BLOCKS:
            self._foreground, self._better = self._background.copy(), 0
        worse = self._background_power > DIVERGED * self._foreground_power
        self._worse = self._worse + 1 if worse else 0
        if self._worse >= COPY_BLOCKS:
            self._background, self._worse = self._foreground.copy(), 0


class _Recent:
    """The last `size` values pushed."""

    def __init__(self, size: int) -> None:
        self._values, self._count = np.zeros(size), 0

    def push(self, value: float) -> None:
        self._values[self._count % len(self._values)] = value
        self._count += 1

    @property
    def values(self) -> np.ndarray:
        return self._values[: min(self._count, len(self._values))]


class DoubleTalk:
    """Block by block, the linear filter's residual where a user talks over the echo, else None.
    `over` does it for a run of blocks, choosing between the residual and AEC3's output."""

    def __init__(self, block: int, rate: int) -> None:
        self._block, self._rate = block, rate
        self._history = np.zeros(0)  # the reference, the last LONGEST_DELAY_S and more
        self._anchor = 0  # samples the filter's reference is delayed by
        self.user_heard = False  # a user talked over the echo in the blocks `over` took last
        self._learn_again()

    def _learn_again(self) -> None:
        """A new filter, and nothing known of how well it models the room."""
        self._filter = LinearEchoFilter(self._block)
        self._modelled = _Recent(ROOM_WINDOW)  # dB the estimate is over the residual, playing
        self._echo = _Recent(ECHO_WINDOW)  # the estimate's power, the last second
        self._residual = _Recent(NOISE_WINDOW)  # the residual's power
        self._smoothed_residual = self._smoothed_echo = self._noise = 0.0
        self._smoothed_product = self._smoothed_residual_power = 0.0  # residual . estimate, and
        # the residual's own power (noise included), for their correlation
        self._room_modelled = False
        self._hangover = self._blocks = 0

    def talking(self, near: np.ndarray, far: np.ndarray) -> np.ndarray | None:
        """One block of float samples: the residual if a user is talking over the echo."""
        residual, estimate = self._filter.process(near, far)
        residual_power = float(residual @ residual) / len(residual)
        echo_power = float(estimate @ estimate) / len(estimate)
        self._residual.push(residual_power)
        self._echo.push(echo_power)
        self._blocks += 1
        if self._blocks % RESTATE_BLOCKS == 0:
            self._restate()
        voice = max(residual_power - self._noise, 0.0)
        if echo_power > SOUND and not self._hangover:  # the room's noise counts against the
            # model (a filter that models nothing in a noisy room would look good against the
            # noise's remains); a user talking over the echo does not (their voice is no echo
            # left unmodelled: it would end the judgement halfway through their words)
            self._modelled.push(10 * np.log10(echo_power / (residual_power + 1e-12)))
        self._smoothed_residual += RESIDUAL_SMOOTHING * (voice - self._smoothed_residual)
        self._smoothed_echo += RESIDUAL_SMOOTHING * (echo_power - self._smoothed_echo)
        product = float(residual @ estimate) / len(residual)
        self._smoothed_product += RESIDUAL_SMOOTHING * (product - self._smoothed_product)
        self._smoothed_residual_power += RESIDUAL_SMOOTHING * (
            residual_power - self._smoothed_residual_power
        )
        if self._room_modelled and self._user_over_echo():
            self._hangover = HANGOVER_BLOCKS
        elif self._hangover:
            self._hangover -= 1
        return residual if self._hangover else None

    def _restate(self) -> None:
        if len(self._residual.values) >= NOISE_KNOWN:
            self._noise = float(np.percentile(self._residual.values, NOISE_PERCENTILE))
        modelled = self._modelled.values
        self._room_modelled = bool(
            len(modelled) >= ROOM_WINDOW and np.percentile(modelled, 75) >= ROOM_MODELLED_DB
        )

    def _user_over_echo(self) -> bool:
        echo, residual = self._smoothed_echo, self._smoothed_residual
        last_second = float(np.mean(self._echo.values))
        spread = np.sqrt(self._smoothed_residual_power * echo) + 1e-20
        return (
            echo > SOUND
            and abs(self._smoothed_product) < UNCORRELATED * spread
            and residual > USER_SHARE * echo
            and residual > OVER_NOISE * self._noise
            and residual > 10 ** (-AGAINST_ECHO_DB / 10) * last_second
        )

    def over(
        self, near: np.ndarray, far: np.ndarray, cancelled: np.ndarray, delay_s: float | None
    ) -> np.ndarray:
        """int16 blocks heard and played, and AEC3's output of them: that output, with the
        blocks where a user talks over the echo taken from the residual instead. `delay_s`: the
        echo's delay after the pairing (None: not known yet; the filter models the first 250 ms)."""
        self._keep(far)
        if delay_s is not None:
            anchor = max(0, round((delay_s - LEAD_S) * self._rate))
            if abs(anchor - self._anchor) > MOVED_S * self._rate:
                self._anchor = anchor
                self._learn_again()
        out, heard = cancelled.copy(), near / 32768.0
        now = len(self._history) - len(far)  # where this call's reference begins
        self.user_heard = False
        for start in range(0, len(near) - self._block + 1, self._block):
            part = slice(start, start + self._block)
            residual = self.talking(heard[part], self._reference(now + start - self._anchor))
            if residual is not None:
                out[part] = np.clip(residual * 32768, -32768, 32767).astype(np.int16)
                self.user_heard = True
        return out

    def rest(self, far: np.ndarray) -> None:
        """int16 blocks played into a room that does not echo (headphones): their reference is
        kept for when it echoes again, and nothing is modelled or judged (the filter costs ~3x
        AEC3's CPU time)."""
        self._keep(far)
        self.user_heard = False

    def _keep(self, far: np.ndarray) -> None:
        kept = round(LONGEST_DELAY_S * self._rate) + len(far)
        self._history = np.concatenate([self._history, far / 32768.0])[-kept:]

    def pairing_moved(self) -> None:
        """The canceller paired the microphone with another part of the reference: the echo's
        delay is no longer the one the filter learnt."""
        self._learn_again()

    def _reference(self, start: int) -> np.ndarray:
        """A block of the kept reference from index `start` (silence before it was kept)."""
        block = np.zeros(self._block)
        first = max(start, 0)
        if start + self._block > first:
            block[first - start :] = self._history[first : start + self._block]
        return block
