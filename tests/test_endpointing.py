"""The endpointing state machine, driven by scripted speech probabilities."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.conversation.endpointing import (
    Endpointer,
    EndpointSettings,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnCheck,
)

FRAME = 512  # samples at 16 kHz: 32 ms
SETTINGS = EndpointSettings(min_speech_ms=250, silence_ms=500, pre_roll_ms=300)


def frame(marker: int) -> bytes:
    """A frame whose samples all equal `marker`, so the audio can be traced back."""
    return int(marker).to_bytes(2, "little", signed=True) * FRAME


def run(probabilities: list[float], settings: EndpointSettings = SETTINGS):
    endpointer = Endpointer(settings)
    events = []
    for index, probability in enumerate(probabilities):
        events += [(index, e) for e in endpointer.push(frame(index), probability)]
    return endpointer, events


def frames_in(event: SpeechEnded) -> list[int]:
    samples = event.audio.to_int16()
    return [int(samples[i]) for i in range(0, len(samples), FRAME)]


def test_speech_starts_after_min_speech_and_ends_after_the_silence():
    probabilities = [0.0] * 20 + [0.9] * 30 + [0.0] * 30
    _, events = run(probabilities)
    (start_index, started), (end_index, ended) = events
    assert isinstance(started, SpeechStarted) and isinstance(ended, SpeechEnded)
    assert start_index == 20 + 8 - 1  # 250 ms = 8 frames of 32 ms
    assert started.at == pytest.approx(20 * 0.032)
    assert end_index == 50 + 16 - 1  # 500 ms of silence = 16 frames
    assert ended.speech_end == pytest.approx(50 * 0.032)
    assert ended.endpoint_at == pytest.approx((end_index + 1) * 0.032)


def test_the_utterance_has_its_pre_roll_and_a_short_tail():
    probabilities = [0.0] * 20 + [0.9] * 30 + [0.0] * 30
    _, events = run(probabilities)
    ended = events[-1][1]
    frames = frames_in(ended)
    assert frames[0] == 20 - 9  # 300 ms of pre-roll: 9 frames before the first voiced one
    assert 49 in frames  # the last voiced frame
    assert frames[-1] == 49 + 6  # ~200 ms of the silence after it, not all 500 ms


def test_a_click_shorter_than_min_speech_is_not_speech():
    _, events = run([0.0] * 10 + [0.9] * 4 + [0.0] * 40)
    assert events == []


def test_short_pauses_inside_speech_do_not_end_the_turn():
    probabilities = [0.9] * 20 + [0.0] * 10 + [0.9] * 20 + [0.0] * 20
    _, events = run(probabilities)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]


def test_hysteresis_keeps_speech_going_just_under_the_threshold():
    probabilities = [0.9] * 20 + [0.4] * 30 + [0.0] * 20  # 0.4 >= 0.5 - 0.15
    _, events = run(probabilities)
    ended = events[-1][1]
    assert ended.speech_end == pytest.approx(50 * 0.032)


def test_a_long_monologue_is_cut_at_the_maximum():
    settings = EndpointSettings(max_utterance_s=2.0)
    _, events = run([0.9] * 200, settings)
    assert [type(e) for _, e in events].count(SpeechEnded) >= 2
    assert all(e.audio.seconds <= 2.6 for _, e in events if isinstance(e, SpeechEnded))


def test_two_turns_and_reset():
    endpointer, events = run([0.9] * 20 + [0.0] * 20 + [0.9] * 20 + [0.0] * 20)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded] * 2
    endpointer.push(frame(0), 0.9)
    endpointer.reset()
    assert not endpointer.in_speech


PAUSING = EndpointSettings(min_speech_ms=250, silence_ms=500, pre_roll_ms=300, pause_ms=160)


def test_a_short_pause_is_announced_before_the_end_with_the_same_audio():
    probabilities = [0.0] * 20 + [0.9] * 30 + [0.0] * 30
    _, events = run(probabilities, PAUSING)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechEnded]
    (paused_index, paused), (_, ended) = events[1], events[2]
    assert paused_index == 50 + 5 - 1  # 160 ms of silence = 5 frames
    assert paused.speech_end == ended.speech_end == pytest.approx(50 * 0.032)
    assert paused.at == pytest.approx(55 * 0.032)
    # the audio so far: everything up to the last voiced frame and the silence after it
    assert frames_in(paused) == frames_in(ended)[: len(frames_in(paused))]
    assert frames_in(paused)[-1] == 54


def test_speech_after_the_pause_resumes_the_turn_and_pauses_again_later():
    probabilities = [0.9] * 20 + [0.0] * 8 + [0.9] * 20 + [0.0] * 20
    _, events = run(probabilities, PAUSING)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechResumed, SpeechPaused, SpeechEnded]
    resumed_index, resumed = events[2]
    assert resumed_index == 28 and resumed.at == pytest.approx(28 * 0.032)
    second_pause, ended = events[3][1], events[4][1]
    assert second_pause.speech_end == ended.speech_end == pytest.approx(48 * 0.032)
    assert frames_in(second_pause)[0] == frames_in(ended)[0]  # the whole turn, both parts


def test_no_pause_events_unless_the_pause_is_shorter_than_the_end_silence():
    probabilities = [0.9] * 20 + [0.0] * 8 + [0.9] * 20 + [0.0] * 20
    for pause_ms in (0, 500, 800):
        settings = EndpointSettings(silence_ms=500, pause_ms=pause_ms)
        _, events = run(probabilities, settings)
        assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded], pause_ms


SMART = EndpointSettings(min_speech_ms=250, silence_ms=500, turn_check_ms=192, turn_max_ms=960)


def smart_run(
    probabilities: list[float],
    answers: dict[int, bool],
    transcript: str | dict[int, str] | None = None,
    settings: EndpointSettings = SMART,
    words_end: float | None = None,
):
    """Push frames; each TurnCheck is answered at once with `answers` (by check number; a number
    not in it stays unanswered, as a model too slow to answer), with `transcript` as the words
    heard so far (one for all checks, or by check number)."""
    endpointer = Endpointer(settings)
    events = []
    for index, probability in enumerate(probabilities):
        for event in endpointer.push(frame(index), probability):
            events.append((index, event))
            if isinstance(event, TurnCheck) and event.number in answers:
                words = transcript.get(event.number) if isinstance(transcript, dict) else transcript
                verdict = endpointer.verdict(
                    event.number, answers[event.number], None, words, words_end
                )
                events += [(index, e) for e in verdict]
    return endpointer, events


def test_a_complete_verdict_ends_the_turn_at_the_first_check():
    _, events = smart_run([0.0] * 5 + [0.9] * 20 + [0.0] * 40, {1: True})
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, TurnCheck, SpeechEnded]
    (check_index, check), (end_index, ended) = events[1], events[2]
    assert check_index == end_index == 25 + 6 - 1  # 192 ms = 6 frames of silence
    assert ended.endpoint_at == pytest.approx(31 * 0.032)
    assert frames_in(ended)[-1] == 24 + 6  # the tail of silence heard so far
    assert check.audio == ended.audio


def test_incomplete_asks_again_and_the_longer_limit_ends_the_turn():
    _, events = smart_run([0.0] * 5 + [0.9] * 20 + [0.0] * 40, {1: False, 2: False, 3: False})
    checks = [(i, e) for i, e in events if isinstance(e, TurnCheck)]
    assert [i - 24 for i, _ in checks] == [6, 12, 18, 24]  # every 192 ms of silence
    end_index, ended = events[-1]
    assert isinstance(ended, SpeechEnded) and end_index - 24 == 30  # 960 ms = 30 frames


def test_a_later_complete_verdict_ends_the_turn_then():
    _, events = smart_run([0.0] * 5 + [0.9] * 20 + [0.0] * 40, {1: False, 2: True})
    end_index, ended = events[-1]
    assert isinstance(ended, SpeechEnded) and end_index - 24 == 12


def test_a_model_that_never_answers_costs_the_longer_limit_only():
    _, events = smart_run([0.0] * 5 + [0.9] * 20 + [0.0] * 40, {})
    assert sum(isinstance(e, TurnCheck) for _, e in events) == 1  # no second question queued
    end_index, ended = events[-1]
    assert isinstance(ended, SpeechEnded) and end_index - 24 == 30


def test_a_verdict_after_speech_resumed_is_ignored():
    endpointer = Endpointer(SMART)
    checks = []
    for index, probability in enumerate([0.9] * 20 + [0.0] * 6 + [0.9] * 3):
        checks += [
            e for e in endpointer.push(frame(index), probability) if isinstance(e, TurnCheck)
        ]
    assert len(checks) == 1 and endpointer.in_speech
    assert endpointer.verdict(checks[0].number, True) == []  # the speaker went on
    assert endpointer.in_speech


def test_a_verdict_arriving_later_ends_the_turn_when_it_arrives():
    endpointer = Endpointer(SMART)
    checks = []
    for index, probability in enumerate([0.9] * 20 + [0.0] * 9):
        checks += [
            e for e in endpointer.push(frame(index), probability) if isinstance(e, TurnCheck)
        ]
    (ended,) = endpointer.verdict(checks[0].number, True, at=1.0)
    assert isinstance(ended, SpeechEnded) and ended.endpoint_at == 1.0
    assert ended.speech_end == pytest.approx(20 * 0.032)
    assert not endpointer.in_speech


PAUSED = [0.0] * 5 + [0.9] * 20 + [0.0] * 60  # speech, then 1.9 s of silence


def test_words_that_lead_on_overrule_complete_and_wait_for_the_longer_text_limit():
    settings = replace(SMART, turn_text_max_ms=1504)  # 47 frames
    _, events = smart_run(PAUSED, {1: True}, "I'd like to.", settings)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, TurnCheck, SpeechEnded]  # no more questions: the words rule
    end_index, _ = events[-1]
    assert end_index - 24 == 47


def test_words_the_language_model_reads_as_going_on_wait_for_the_longer_text_limit():
    settings = replace(SMART, turn_text_max_ms=1504)
    _, events = smart_run(PAUSED, {1: True}, "How many?", settings, words_end=0.001)
    assert [type(e) for _, e in events] == [SpeechStarted, TurnCheck, SpeechEnded]
    assert events[-1][0] - 24 == 47  # 1504 ms of silence, asked no more meanwhile
    _, events = smart_run(PAUSED, {1: True}, "How many?", settings, words_end=0.2)
    assert events[-1][0] - 24 == 6  # not under turn_words_unfinished_below: ended at once


def test_speech_after_unfinished_words_resumes_the_turn_with_the_usual_limits():
    settings = replace(SMART, turn_text_max_ms=1504)
    again = [0.0] * 5 + [0.9] * 20 + [0.0] * 20 + [0.9] * 10 + [0.0] * 60
    words = {1: "I'd like to", 2: "I'd like to book a table."}
    _, events = smart_run(again, {1: True, 2: False, 3: False, 4: False, 5: False}, words, settings)
    ended = [i for i, e in events if isinstance(e, SpeechEnded)]
    assert ended == [54 + 30]  # the second silence: turn_max_ms (960 ms), asked again meanwhile
    assert sum(isinstance(e, TurnCheck) for _, e in events) == 1 + 4


@pytest.mark.parametrize("words", [None, "", "Turn off the lights."])  # "?": the next test
def test_words_that_can_end_there_leave_the_model_to_decide(words):
    _, events = smart_run(PAUSED, {1: True}, words)
    assert [i - 24 for i, e in events if isinstance(e, SpeechEnded)] == [6]
    _, events = smart_run(PAUSED, {1: False, 2: False, 3: False, 4: False}, words)
    assert [i - 24 for i, e in events if isinstance(e, SpeechEnded)] == [30]


def test_a_question_ends_an_incomplete_turn_only_with_turn_question_ends():
    assert EndpointSettings().turn_question_ends  # the default
    settings = replace(SMART, turn_question_ends=True)
    _, events = smart_run(PAUSED, {1: False}, "Where is it?", settings)
    assert [i - 24 for i, e in events if isinstance(e, SpeechEnded)] == [6]
    off = replace(SMART, turn_question_ends=False)  # "incomplete" waits out turn_max_ms
    _, events = smart_run(PAUSED, {1: False, 2: False, 3: False, 4: False}, "Where is it?", off)
    assert [i - 24 for i, e in events if isinstance(e, SpeechEnded)] == [30]


def test_with_the_text_check_off_the_words_are_ignored():
    settings = replace(SMART, turn_text_check=False)
    _, events = smart_run(PAUSED, {1: True}, "I'd like to", settings)
    assert [i - 24 for i, e in events if isinstance(e, SpeechEnded)] == [6]


def test_fixed_silence_ignores_the_text_settings():
    settings = replace(SETTINGS, turn_text_max_ms=3000, turn_question_ends=True)
    _, events = run(PAUSED, settings)
    assert [i - 24 for i, e in events if isinstance(e, SpeechEnded)] == [500 // 32 + 1]
