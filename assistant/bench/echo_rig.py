"""Open speakers, measured offline: long replies of the project's voice come back into the
microphone through a synthetic room (a delay, a decaying tail, -6 to +6 dB against the user), and
go through what `assistant talk` runs on the microphone: the echo canceller (fed with what was
played), the Silero VAD and the barge-in guard. Counted: self-interruptions over the replies, with
echo cancellation on and off; and, with a user speaking over the echo, how soon after their first
sound playback is held and the reply interrupted. With cancellation on, twice: a fresh canceller
(a talk's first reply, before it has learnt the room) and one that has heard another reply in the
same room first (every later reply). And with no echo at all (headphones), the words of a user
speaking over a first reply as speech-to-text hears them from the canceller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from ..audio.codec import concat, resample
from ..audio.echo import EchoCanceller
from ..audio.vad import FRAME_SAMPLES, VAD_RATE, SileroVAD
from ..conversation.barge_in import BargeIn, BargeInGuard, BargeInSettings
from ..types import AudioChunk
from .corpus import word_error_rate
from .stats import percentile

BLOCK_S = 0.02  # the microphone's and the speaker's block, as in audio/devices.py
LEVELS_DB = (-6.0, 0.0, 6.0)  # the echo against the user's voice
DELAYS_S = (0.02, 0.05, 0.08)
NO_ECHO_DB = (-200.0,)  # headphones: nothing of the reply comes back
NOISY_ROOM_DBFS = -50.0  # the noisy room's white noise in the microphone (the echo ~-30..-18)
STUTTERING_S = 1.0  # the echo held playback this soon before the user spoke: it was stuttering


def room_impulse_response(delay_s: float, rate: int, seed: int = 0) -> np.ndarray:
    """A synthetic room: the direct sound after `delay_s`, then a decaying tail (RT60 ~0.35 s)."""
    length = int(0.3 * rate)
    times = np.arange(length) / rate
    tail = np.random.default_rng(seed).standard_normal(length) * np.exp(-times / 0.05) * 0.2
    response = np.where(times < delay_s, 0.0, tail)
    response[int(delay_s * rate)] = 1.0
    return response


@dataclass(frozen=True)
class EchoTrial:
    interrupted_at: float | None  # seconds into the reply: the guard interrupted it
    hold_times: tuple[float, ...] = ()  # seconds: each time the guard held playback

    @property
    def holds(self) -> int:
        """Times playback was held (each a stutter when nothing follows)."""
        return len(self.hold_times)

    def held_since(self, start: float) -> float | None:
        """When playback was first held at or after `start`; None if not (or held already)."""
        return next((time for time in self.hold_times if time >= start), None)


def run_trial(
    reply: AudioChunk,
    user: AudioChunk | None,
    user_at: float,
    *,
    level_db: float,
    delay_s: float,
    canceller: EchoCanceller | None,
    guard: BargeInSettings,
    heard_before: AudioChunk | None = None,
    noise_dbfs: float | None = None,
) -> EchoTrial:
    """One reply played into the room; `user` (if any) starts speaking `user_at` s into it. As
    in the engine, a hold pauses playback (the room falls quiet) until released or confirmed.
    `heard_before`: another reply played into the same room and canceller first, unmeasured
    (times stay relative to `reply`). `noise_dbfs`: the room's white noise in the microphone
    (None: a digitally silent one, as the live rig's)."""
    block = int(BLOCK_S * VAD_RATE)
    far = resample(reply, VAD_RATE).to_float32()
    response = room_impulse_response(delay_s, VAD_RATE)
    gain = _gain(np.convolve(far, response)[: len(far)], user, level_db)
    learnt = np.zeros(0) if heard_before is None else resample(heard_before, VAD_RATE).to_float32()
    before = len(learnt) // block * block
    far = np.concatenate([learnt[:before], far])
    speech = np.zeros(0) if user is None else resample(user, VAD_RATE).to_float32()
    start = before + int(user_at * VAD_RATE)
    vad, barge_in = SileroVAD.load(), BargeInGuard(guard)
    pending = np.zeros(0, dtype=np.float32)
    tail = np.zeros(len(response) - 1)
    hold_times: list[float] = []
    holding, position, clock = False, 0, 0
    over_echo = False  # the canceller heard the user over the echo, in audio not yet framed
    noise = np.random.default_rng(7)
    while position < len(far) - block:
        played = np.zeros(block) if holding else far[position : position + block]
        position += 0 if holding else block
        wet = np.convolve(played * gain, response)
        wet[: len(tail)] += tail
        mic, tail = wet[:block].copy(), wet[block:]
        if noise_dbfs is not None:
            mic += noise.standard_normal(block) * 10 ** (noise_dbfs / 20)
        user_part = speech[max(0, clock - start) : max(0, clock + block - start)]
        if clock + block > start and len(user_part):
            offset = max(0, start - clock)
            mic[offset : offset + len(user_part)] += user_part[: block - offset]
        clock += block
        chunk = AudioChunk.from_float32(mic.astype(np.float32), VAD_RATE)
        if canceller is not None:  # the speaker's block sounds from its start, the
            # microphone's comes in at its end
            start_s = (clock - block) / VAD_RATE
            canceller.played((played * 32767).astype(np.int16), VAD_RATE, start_s)
            chunk = canceller.clean(chunk, clock / VAD_RATE)
            over_echo = over_echo or canceller.user_over_echo
        if clock <= before:  # the reply heard before: the canceller learns the room, nothing
            over_echo = False  # is judged
            continue
        pending = np.concatenate([pending, chunk.to_float32()])
        while len(pending) >= FRAME_SAMPLES:
            frame, pending = pending[:FRAME_SAMPLES], pending[FRAME_SAMPLES:]
            now = (clock - before) / VAD_RATE
            heard = barge_in.push(vad(frame), FRAME_SAMPLES / VAD_RATE, True, now, over_echo)
            over_echo = over_echo and len(pending) >= FRAME_SAMPLES  # said of all it completes
            for action in heard:
                if action == BargeIn.HOLD and not holding:
                    hold_times.append(now)
                holding = action == BargeIn.HOLD or (holding and action != BargeIn.RELEASE)
                if action == BargeIn.INTERRUPT:
                    return EchoTrial(now, tuple(hold_times))
    return EchoTrial(None, tuple(hold_times))


def _gain(echo: np.ndarray, user: AudioChunk | None, level_db: float) -> float:
    """The factor that puts the echo `level_db` against a user speaking at a normal level."""
    reference = 0.1 if user is None else _speech_rms(resample(user, VAD_RATE).to_float32())
    return 10 ** (level_db / 20) * reference / max(_speech_rms(echo), 1e-6)


def _speech_rms(samples: np.ndarray) -> float:
    loud = samples[np.abs(samples) > 0.01]
    return float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.0


def first_sound(audio: AudioChunk) -> float:
    """Seconds into `audio` of its first sound (a sample above -40 dBFS)."""
    loud = np.flatnonzero(np.abs(audio.to_float32()) > 0.01)
    return float(loud[0]) / audio.sample_rate if len(loud) else 0.0


def measure(
    replies: list[AudioChunk],
    user: AudioChunk,
    make_canceller: Callable[[], EchoCanceller | None],
    guard: BargeInSettings,
    heard_before: bool = False,
    levels_db: tuple[float, ...] = LEVELS_DB,
    noise_dbfs: float | None = None,
) -> dict:
    """Self-interruptions over `replies` (rooms cycled over `levels_db` and delays), and the
    user's barge-in over the same replies: time from the user's first sound to hold/interrupt. A
    hold counts as the user's only where the reply alone (no user) was not held from
    `STUTTERING_S` before the user's first sound to it (playback stuttering on its own echo).
    `heard_before`: each canceller has heard the next reply in the same room first; `noise_dbfs`:
    the room's noise in the microphone."""
    self_interrupted, self_holds, hold_ms, interrupt_ms, missed, held_by_echo = 0, 0, [], [], 0, 0
    for number, reply in enumerate(replies):
        level = levels_db[number % len(levels_db)]
        room = {"level_db": level, "delay_s": DELAYS_S[(number // 3) % 3]}
        before = replies[(number + 1) % len(replies)] if heard_before else None
        trial = partial(run_trial, guard=guard, heard_before=before, noise_dbfs=noise_dbfs, **room)
        alone = trial(reply, None, 0.0, canceller=make_canceller())
        self_interrupted += alone.interrupted_at is not None
        self_holds += alone.holds
        user_at = min(2.0, reply.seconds / 2)
        over = trial(reply, user, user_at, canceller=make_canceller())
        if over.interrupted_at is None or over.interrupted_at < user_at:
            missed += over.interrupted_at is None
            continue
        speaks_at = user_at + first_sound(user)
        interrupt_ms.append(1000 * (over.interrupted_at - speaks_at))
        held = over.held_since(speaks_at)
        echo_held = alone.held_since(speaks_at - STUTTERING_S)
        if held is not None and (echo_held is None or echo_held > held):
            hold_ms.append(1000 * (held - speaks_at))
        else:  # the reply's own echo held playback there without the user
            held_by_echo += 1
    return {
        "replies": len(replies),
        "self_interruptions": self_interrupted,
        "self_holds": self_holds,
        "barge_in_missed": missed,
        "held_by_the_echo": held_by_echo,
        "hold_p50_ms": round(percentile(hold_ms, 50), 1) if hold_ms else None,
        "interrupt_p50_ms": round(percentile(interrupt_ms, 50), 1) if interrupt_ms else None,
    }


REPLY_TEXTS = (
    "Once upon a time, in a land far away, there lived a dragon who loved to read old books.",
    "The weather tomorrow will be mostly sunny, with a light breeze and a high of twenty degrees.",
    "To make green tea, heat the water until it is just below boiling, then steep for two minutes.",
    "The museum opens at nine in the morning and closes at six, except on Mondays.",
)
USER_TEXT = "Please stop talking now."


def through_the_canceller(
    canceller: EchoCanceller, far: np.ndarray, mic: np.ndarray, rate: int
) -> np.ndarray:
    """`far` played and `mic` heard (int16 at `rate`) block by block, in time as the devices'
    callbacks go (a played block sounds from its start, a heard one comes in at its end): what
    the canceller gives back."""
    block, cleaned = int(BLOCK_S * rate), []
    for at in range(0, len(far) - block + 1, block):
        canceller.played(far[at : at + block], rate, at / rate)
        chunk = AudioChunk(mic[at : at + block].astype("<i2").tobytes(), rate)
        cleaned.append(canceller.clean(chunk, (at + block) / rate).to_int16())
    return np.concatenate(cleaned)


def words_without_echo(
    replies: list[AudioChunk], user: AudioChunk, said: str, stt, pass_through: bool
) -> dict:
    """Headphones: the user speaks over each reply (into a fresh canceller, as on a talk's first
    reply) and nothing of the reply comes back into the microphone. Their words as speech-to-text
    hears them from the canceller; `pass_through`: as `assistant talk` runs it (False: AEC3's own
    output, which removes much of a voice over a loud reference until it has learnt the room)."""
    from ..audio.echo import ECHO_RATE, WebRtcEchoCanceller

    block, voice = int(BLOCK_S * ECHO_RATE), resample(user, ECHO_RATE).to_int16()
    errors = []
    for reply in replies:
        far = resample(reply, ECHO_RATE).to_int16()
        start = int(min(2.0, reply.seconds / 2) * ECHO_RATE)
        heard_part = voice[: len(far) - start]
        mic = np.zeros(len(far), dtype=np.int16)
        mic[start : start + len(heard_part)] = heard_part
        canceller = WebRtcEchoCanceller(pass_through=pass_through)
        cleaned = through_the_canceller(canceller, far, mic, ECHO_RATE)
        out = cleaned[max(0, start - block) : start + len(heard_part) + block]
        heard = stt.transcribe(AudioChunk(out.astype("<i2").tobytes(), ECHO_RATE)).text
        errors.append(word_error_rate(heard, said))
    return {
        "replies": len(replies),
        "heard_whole": sum(error == 0 for error in errors),
        "word_error_rate": round(float(np.mean(errors)), 3),
    }


def compare(
    tts, voice: str, user: AudioChunk, replies: int, guard: BargeInSettings, stt=None
) -> dict:
    """Echo cancellation on (the ordinary speech threshold; a fresh canceller, and one that has
    heard a reply in the room before), with its double-talk judgement and with AEC3 alone, in a
    digitally silent room and a noisy one (`NOISY_ROOM_DBFS`), against off (the strict
    threshold), over `replies` long replies of `voice`, each two to three sentences; the same with
    no echo at all (headphones: on, as `assistant talk` runs by default, and off); with `stt`,
    also a user's words over a reply with no echo (`words_without_echo`), the microphone passed
    through or not."""
    from ..audio.echo import WebRtcEchoCanceller

    spoken = [
        concat([c for k in range(3) for c in tts.synthesize(REPLY_TEXTS[(n + k) % 4], voice=voice)])
        for n in range(replies)
    ]
    plain = BargeInSettings()  # as `assistant talk` without cancellation: strict, no bridging,
    # no allowance for the echo's tail after a hold
    strict = replace(
        guard, threshold=plain.threshold, gap_ms=plain.gap_ms, echo_tail_ms=plain.echo_tail_ms
    )
    aec3_alone = partial(WebRtcEchoCanceller, double_talk=False)
    results = {}
    for room, noise_dbfs in (("", None), ("noisy_room_", NOISY_ROOM_DBFS)):
        for way, canceller in (("", WebRtcEchoCanceller), ("_aec3_alone", aec3_alone)):
            for when, heard_before in (("", False), ("_after_a_reply", True)):
                results[f"{room}echo_cancellation_on{way}{when}"] = measure(
                    spoken, user, canceller, guard, heard_before, noise_dbfs=noise_dbfs
                )
    results["echo_cancellation_off"] = measure(spoken, user, lambda: None, strict)
    results["headphones_echo_cancellation_on"] = measure(
        spoken, user, WebRtcEchoCanceller, guard, levels_db=NO_ECHO_DB
    )
    results["headphones_echo_cancellation_off"] = measure(
        spoken, user, lambda: None, strict, levels_db=NO_ECHO_DB
    )
    if stt is not None:
        results["no_echo"] = {
            way: words_without_echo(spoken, user, USER_TEXT, stt, pass_through=passed)
            for way, passed in (("passed_through", True), ("aec3_output", False))
        }
    return results
