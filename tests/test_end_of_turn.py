"""The semantic end of turn with the real Smart Turn model, Silero VAD and endpointer, on spoken
turns made by espeak-ng; and echo cancellation with the real AEC3 on a reply played into a
synthetic room. The figures themselves (premature ends, false "incomplete", delays, reaction)
are the benchmark's (`assistant bench --turns`, bench/echo_rig.py); these check the parts."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from dataclasses import replace

import pytest
from conftest import TEST_TIER

from assistant.audio.codec import concat
from assistant.audio.echo import WebRtcEchoCanceller
from assistant.audio.smart_turn import SmartTurn
from assistant.audio.vad import FRAME_SAMPLES, SileroVAD
from assistant.bench.corpus import words
from assistant.bench.echo_rig import first_sound, run_trial
from assistant.bench.turn_corpus import (
    AFTERTHOUGHT_EN,
    COMPLETE_EN,
    PAUSED_EN,
    SpokenTurn,
    complete_turns,
    espeak_speaker,
    paused_turns,
)
from assistant.bench.turn_report import report_lines
from assistant.bench.turn_taking import Hearer, WordsReader, aligner, measure, replay, summary
from assistant.conversation.end_of_turn import NICER_BY, TurnJudge
from assistant.conversation.endpointing import Endpointer, EndpointSettings, TurnCheck
from assistant.conversation.options import ConversationOptions
from assistant.providers.loading import TURN_MODEL_FILE
from assistant.types import AudioChunk

SMART = EndpointSettings(pause_ms=64, turn_check_ms=200, turn_max_ms=1000, silence_ms=500)


@pytest.fixture(scope="module")
def model(store) -> SmartTurn:
    entry = store.catalog.choose("turn", TEST_TIER)
    assert entry is not None, "the test tier has no end-of-turn model"
    return SmartTurn.load(store.require(entry.name, "turn") / TURN_MODEL_FILE)


@pytest.fixture(scope="module")
def turns(tmp_path_factory, store):
    """Two complete turns and two paused ones, the pauses put as the benchmark puts them."""
    speak = espeak_speaker(tmp_path_factory.mktemp("turns"))
    return complete_turns("espeak-ng", speak, COMPLETE_EN[:2]) + paused_turns(
        "espeak-ng", speak, PAUSED_EN[:2], aligner(store)
    )


def test_the_pause_goes_between_the_words_before_and_after_it(turns, stt):
    """Heard alone by the test tier's Whisper (not the aligner's), the speech before each pause
    is exactly the words said before it ("I'd like to", "Can you remind me to"): not a word
    short, not one over (cut by the letters' share alone, the first was "I'd like")."""
    for turn, (before, _) in zip(turns[2:], PAUSED_EN[:2], strict=True):
        rate = turn.audio.sample_rate
        first = AudioChunk(turn.audio.pcm[: 2 * round(turn.pause[0] * rate)], rate)
        assert words(stt.transcribe(first).text) == words(before), turn.id


def test_the_model_reads_8_s_of_whisper_features_and_answers_a_probability(model):
    silence = AudioChunk(bytes(2 * 16000), 16000)
    long = AudioChunk(bytes(2 * 16000 * 10), 16000)
    assert model.features(silence).shape == model.features(long).shape == (80, 800)
    assert 0.0 <= model.probability(silence) <= 1.0


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_the_model_runs_on_a_thread_nicer_than_the_engines(model, turns):
    """So it takes no core from Whisper's or llama.cpp's threads (see end_of_turn.NICER_BY)."""
    seen: list[int] = []  # the niceness of the thread the model ran on

    class Noting:
        def probability(self, audio: AudioChunk) -> float:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return model.probability(audio)

    judge = TurnJudge(Noting())
    try:
        complete = asyncio.run(judge.complete(turns[0].audio))
    finally:
        judge.close()
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, ours + NICER_BY)] and isinstance(complete, bool)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # only its own


def test_asked_again_in_one_silence_the_model_is_not_run_again(model, turns):
    """Every check in one silence hands over the same audio (the turn and 0.2 s after it), so
    the model would say the same again: it runs once per silence, through the real endpointer."""
    calls: list[int] = []

    class Counting:
        def probability(self, audio: AudioChunk) -> float:
            calls.append(len(audio.pcm))
            return model.probability(audio)

    vad, judge = SileroVAD.load(), TurnJudge(Counting())

    async def checks(turn) -> list[bool]:
        """The judge's answers to each check of `turn`, each taken as "incomplete" so that the
        endpointer goes on asking until its upper limit."""
        endpointer, answers = Endpointer(SMART), []
        vad.reset()
        samples, frame = turn.audio.to_float32(), FRAME_SAMPLES
        for start in range(0, len(samples) - frame + 1, frame):
            pcm = turn.audio.pcm[2 * start : 2 * (start + frame)]
            for event in endpointer.push(pcm, vad(samples[start : start + frame])):
                if isinstance(event, TurnCheck):
                    answers.append(await judge.complete(event.audio))
                    endpointer.verdict(event.number, False, event.at)
        return answers

    try:
        first = asyncio.run(checks(turns[0]))
        assert len(first) >= 3 and len(set(first)) == 1 and len(calls) == 1
        second = asyncio.run(checks(turns[1]))  # another turn: asked anew
        assert second and len(calls) == 2
    finally:
        judge.close()


def test_complete_turns_end_and_paused_ones_are_judged_through_the_real_endpointer(model, turns):
    vad = SileroVAD.load()
    smart = [replay(turn, SMART, vad, model) for turn in turns]
    fixed = [replay(turn, SMART, vad, None) for turn in turns]
    assert all(outcome.model_ms for outcome in smart)  # the model was asked on every turn
    assert not any(outcome.model_ms for outcome in fixed)
    for outcome in smart:
        if not outcome.paused:  # ended after the last word, by a verdict or the upper limit
            assert not outcome.premature and outcome.delay_s is not None
            assert outcome.delay_s < SMART.turn_max_ms / 1000 + max(outcome.model_ms) / 1000 + 0.2
    # the corpus' pauses (600-900 ms) are longer than the fixed 500 ms silence: each ends there
    assert summary(fixed)["premature_ends"] == summary(fixed)["paused_turns"] == 2
    assert summary(smart)["premature_ends"] <= summary(fixed)["premature_ends"]


def test_a_pause_after_words_that_lead_on_does_not_end_the_turn(model, turns, stt):
    """Real espeak-ng turns, real Silero VAD, end-of-turn model, STT and endpointer: "I'd like to
    ... book a table for two." and "Can you remind me to ... call my sister tonight?" are not
    ended at the pause, whatever the model says there; complete questions still end."""
    # the real STT's words, there the moment each pause begins: when they come is the
    # benchmark's business (it measures it); here the decision on the words is checked
    vad, words = SileroVAD.load(), Hearer(stt).at_once()
    combined = [replay(turn, SMART, vad, model, words) for turn in turns]
    for outcome in combined:
        assert not outcome.premature, (outcome.id, outcome.heard)
        assert outcome.delay_s is not None, outcome.id  # each turn did end, after its last word
    paused = [o for o in combined if o.paused]
    assert len(paused) == 2 and all(o.heard for o in paused)  # the words were read


def test_words_the_language_model_reads_as_going_on_keep_a_pause_open(
    model, stt, chat, store, tmp_path
):
    """ "How many ... days are there in a leap year?" by espeak-ng: Smart Turn hears "How many"
    finished, Whisper writes "How many?" and no word list knows "many"; the test tier's language
    model reads the words as going on, so the pause does not end the turn. Without the reading
    it does."""
    [turn] = paused_turns("espeak-ng", espeak_speaker(tmp_path), [PAUSED_EN[5]], aligner(store))
    vad, words = SileroVAD.load(), Hearer(stt).at_once()
    reader = WordsReader(chat, "Answer briefly.", at_once=True)  # in time, however loaded
    read = replay(turn, SMART, vad, model, words, reader)
    assert not read.premature and read.delay_s is not None, (read.heard, read.words_end)
    assert read.heard[0].startswith("How many") and read.words_end[0] < 0.01
    unread = replace(SMART, turn_words_unfinished_below=0.0)
    assert replay(turn, unread, vad, model, words, reader).premature


def test_the_benchmark_sets_the_words_beside_the_model_alone_and_silence(
    model, turns, stt, chat, store, tmp_path
):
    [afterthought] = paused_turns("espeak-ng", espeak_speaker(tmp_path), AFTERTHOUGHT_EN[:1],
                                  aligner(store), afterthought=True)  # fmt: skip
    assert afterthought.id == "espeak-ng-a1" and afterthought.afterthought
    turns = [*turns, afterthought]
    reader = WordsReader(chat, "Answer briefly.")
    results = measure(turns, SMART, model, stt, reader=reader)
    variants = ("smart", "configured", "unread", "question_flipped", "combined")
    for variant in (*variants, "combined_at_once", "silence"):
        figures = results[variant]
        assert figures["paused_turns"] == 2 and figures["complete_turns"] == 2
        assert figures["afterthoughts"] == 1  # counted apart from the paused turns
    assert results["silence"]["afterthoughts_ended_early"] == 1  # 500 ms: the pause ends it
    assert results["stt_p50_ms"] > 0 and set(results["heard"]) == {t.id for t in turns}
    # each pause's words were read by the language model ("I'd like to": ~0); which readings
    # came in time for a decision depends on the machine's speed (results["heard"])
    readings = reader.readings()
    values = [end for end in readings.values() if end is not None]
    assert values and all(0 <= end <= 1 for end in values) and min(values) < 0.1, readings
    decided = [end for _, ends in results["heard"].values() for end in ends if end is not None]
    assert set(decided) <= set(readings.values()), (results["heard"], readings)
    table = "\n".join(report_lines(results, SMART))
    assert ("| smart alone | as configured: smart + words, waited for | the same, without the "
            "LLM's reading of the words | the same, '?' ends ") in table  # fmt: skip
    assert "| premature ends, paused turns |" in table
    assert "| the same, paused turns not ended early (ms) |" in table
    assert "| afterthoughts ended at the pause ('Turn on the lights ... in the kitchen') |" in table


@pytest.fixture(scope="module")
def replies(tts) -> list[AudioChunk]:
    """One sentence read four times: Piper's noise makes each reading a little different."""
    text = "Once upon a time there lived a dragon who loved old books."
    return [concat(tts.synthesize(text)) for _ in range(4)]


@pytest.fixture(scope="module")
def reply(replies) -> AudioChunk:
    return replies[0]


GUARD = (
    ConversationOptions("", barge_in_hold_ms=64).echo_cancelled().barge_in_settings()
)  # as in talk


def test_with_echo_cancellation_the_reply_does_not_interrupt_itself(replies):
    """Each reading into a fresh canceller (one that has not learnt the room: the worst case, a
    talk's first reply): its echo rarely holds playback, and the echo that still comes after a
    hold (the room's tail, let through by AEC3 once the speaker is silent) does not interrupt.
    Over 200 readings, it interrupted itself 9 times without the echo tail allowance, 3 times
    with it: hence "at most one of four"."""
    room = {"level_db": 6, "delay_s": 0.05}
    alone = [run_trial(r, None, 0.0, canceller=WebRtcEchoCanceller(), guard=GUARD, **room)
             for r in replies]  # fmt: skip
    assert sum(trial.interrupted_at is not None for trial in alone) <= 1, alone
    raw = [run_trial(r, None, 0.0, canceller=None, guard=GUARD, **room) for r in replies]
    # the same echo, not cancelled, is taken for the user: playback is held again and again
    assert sum(t.holds for t in raw) > 3 * sum(t.holds for t in alone) + 8, (raw, alone)


def test_with_echo_cancellation_the_user_over_the_reply_interrupts_it(reply, espeak):
    from assistant.audio.codec import decode_file

    user = decode_file(espeak("Please stop talking now.", "stop"))
    over = run_trial(reply, user, 1.0, level_db=0, delay_s=0.03,
                     canceller=WebRtcEchoCanceller(), guard=GUARD)  # fmt: skip
    assert over.interrupted_at is not None and over.interrupted_at > 1.0


def test_a_canceller_that_has_heard_the_room_is_measured_on_the_reply_alone(replies, espeak):
    """The benchmark's second figure (every reply after a talk's first): another reply is played
    into the same room and canceller first, unjudged; times count from the measured reply."""
    from assistant.audio.codec import decode_file

    user = decode_file(espeak("Please stop talking now.", "stop"))
    first, other = replies[0], replies[1]
    over = run_trial(first, user, 1.0, level_db=0, delay_s=0.03, canceller=WebRtcEchoCanceller(),
                     guard=GUARD, heard_before=other)  # fmt: skip
    assert over.interrupted_at is not None and 1.0 < over.interrupted_at < first.seconds
    held = over.held_since(1.0)
    assert held is not None and held <= over.interrupted_at
    alone = run_trial(first, None, 0.0, level_db=6, delay_s=0.05,
                      canceller=WebRtcEchoCanceller(), guard=GUARD, heard_before=other)  # fmt: skip
    assert alone.interrupted_at is None and alone.holds <= 1, alone  # 0 or 1 (of 6 runs: 4, 2)


def test_barge_in_is_timed_from_the_users_first_sound(espeak):
    """espeak-ng begins its files with ~60 ms of silence: the benchmark's hold and interrupt
    times count from the first sound, not from the file's start."""
    from assistant.audio.codec import decode_file, silence

    user = decode_file(espeak("Please stop talking now.", "stop"))
    assert 0.02 < first_sound(user) < 0.2
    later = concat([silence(0.3, user.sample_rate), user])
    assert first_sound(later) == pytest.approx(first_sound(user) + 0.3, abs=1e-3)


def test_a_mandarin_turn_is_heard_by_the_mandarin_speech_to_text(config, store, stt, tmp_path):
    """The benchmark hears each turn as the live path would: a Mandarin turn by the tier's
    multilingual Whisper in Chinese (the English tiny.en writes no Chinese)."""
    from test_chinese import QUESTION, mandarin

    from assistant.audio.codec import decode_file, resample
    from assistant.providers.registry import create_stt
    from assistant.text import has_cjk

    speech = resample(decode_file(mandarin(QUESTION, tmp_path / "question.wav")), 16000)
    [turn] = complete_turns("espeak-ng zh", lambda text: speech, [QUESTION])
    chinese = replace(config.stt, model="whisper-base", language="zh")
    hearer = Hearer(stt, by_language={"zh": create_stt(replace(config, stt=chinese), store)})
    assert turn.language == "zh" and turns_language_of("What time is it?") == "en"
    heard, took = hearer(turn.audio, turn.language)
    assert has_cjk(heard) and took > 0, heard
    english, _ = hearer(turn.audio)  # another language, another transcript
    assert not has_cjk(english), english


def turns_language_of(text: str) -> str:
    return SpokenTurn("t", "v", text, AudioChunk(b"", 16000), 0.0).language


def test_the_echo_benchmark_prints_each_way_side_by_side(tmp_path):
    """`assistant bench --echo --quick`: four replies into the synthetic room, cancellation on
    (a fresh canceller, and one that has heard a reply first; with its double-talk judgement and
    AEC3 alone; a silent room and a noisy one) and off, and a user's words over a reply with no
    echo; the JSON and the lines."""
    import json
    import subprocess

    from audio_rig import ASSISTANT

    result = subprocess.run(
        [ASSISTANT, "bench", "--echo", "--quick", "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "benchmark-echo.json").read_text())
    modes = ["echo_cancellation_on", "echo_cancellation_on_after_a_reply", "echo_cancellation_off"]
    headphones = ["headphones_echo_cancellation_on", "headphones_echo_cancellation_off"]
    cancelled = [
        f"{room}echo_cancellation_on{way}{when}"
        for room in ("", "noisy_room_")
        for way in ("", "_aec3_alone")
        for when in ("", "_after_a_reply")
    ]
    assert list(results) == [*cancelled, "echo_cancellation_off", *headphones, "no_echo"]
    assert all(results[mode]["replies"] == 4 for mode in cancelled)
    for room in ("", "noisy_room_"):  # the double-talk judgement never makes it interrupt itself
        assert results[f"{room}echo_cancellation_on_after_a_reply"]["self_interruptions"] == 0
    # with nothing to cancel, the canceller (passing the microphone through) is as quick to
    # hold as no canceller at all, and misses nothing
    new, old = (results[mode] for mode in headphones)
    assert new["barge_in_missed"] == old["barge_in_missed"] == 0, (new, old)
    assert new["hold_p50_ms"] <= old["hold_p50_ms"] + 100, (new, old)
    passed, aec3 = results["no_echo"]["passed_through"], results["no_echo"]["aec3_output"]
    # with no echo (headphones) the words over a first reply reach speech-to-text whole; from
    # AEC3's own output they did not
    assert passed["replies"] == 4 and passed["heard_whole"] >= 3, results["no_echo"]
    assert aec3["word_error_rate"] > passed["word_error_rate"] + 0.2, results["no_echo"]
    assert all(results[mode]["replies"] == 4 for mode in modes)
    on, learnt, off = (results[mode] for mode in modes)
    # uncancelled, the reply's own echo holds playback again and again; cancelled, hardly
    assert off["self_holds"] > 10 * (learnt["self_holds"] + 1), results
    assert on["self_holds"] < off["self_holds"] / 10, results
    assert learnt["hold_p50_ms"] is not None and 0 < learnt["hold_p50_ms"] < 2000, learnt
    # uncancelled, playback is held by its own echo before the user's voice can hold it
    assert off["held_by_the_echo"] >= 3, off
    assert "echo cancellation on after a reply: " in result.stdout
    assert "noisy room echo cancellation on aec3 alone after a reply: " in result.stdout
    assert "echo cancellation off: " in result.stdout and "None" not in result.stdout
    assert "no echo (headphones), a user over a first reply: words heard whole" in result.stdout
