"""Recorded human speech (the catalog's `recordings-en` and `recordings-zh`, pulled from packages'
test data on PyPI by the test set-up): it loads, the real Whisper hears it (Mandarin in Chinese
characters), and the real VAD, end-of-turn model and endpointer end each recorded turn after its
last word. Its figures are the benchmark's (`assistant bench --turns`, the "recorded" voices;
`assistant bench --quality`, the "recorded human" rows)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import TEST_TIER

from assistant.audio.smart_turn import SmartTurn
from assistant.audio.vad import SileroVAD
from assistant.bench.corpus import char_error_rate, word_error_rate
from assistant.bench.recordings import (
    COMPLETE,
    MANDARIN,
    PAUSED,
    RECORDINGS,
    load_recording,
    recorded_turns,
)
from assistant.bench.turn_taking import replay
from assistant.conversation.endpointing import EndpointSettings
from assistant.providers.loading import TURN_MODEL_FILE
from assistant.providers.registry import create_stt
from assistant.text import has_cjk

SMART = EndpointSettings(pause_ms=64, turn_check_ms=200, turn_max_ms=1000, silence_ms=500)


@pytest.fixture(scope="module")
def recordings(store):
    return store.require(RECORDINGS, "speech")


@pytest.fixture(scope="module")
def turns(recordings):
    return recorded_turns(recordings)


@pytest.fixture(scope="module")
def mandarin(store):
    return store.require(MANDARIN.name, "speech")


def test_every_recording_loads_as_16_khz_speech(recordings, mandarin):
    for directory, recording in [(recordings, r) for r in COMPLETE + PAUSED] + [
        (mandarin, r) for r in MANDARIN.recordings
    ]:
        audio = load_recording(directory, recording.file)
        assert audio.sample_rate == 16000 and 0.8 < audio.seconds < 12, recording.file


def test_whisper_base_hears_recorded_mandarin_in_chinese_characters(mandarin, config, store):
    """AISHELL-1's read sentences through the multilingual Whisper the Chinese tiers use."""
    stt = create_stt(
        replace(config, stt=replace(config.stt, model="whisper-base", language="zh")), store
    )
    for recording in MANDARIN.recordings:
        heard = stt.transcribe(load_recording(mandarin, recording.file), language="zh").text
        assert sum(has_cjk(c) for c in heard) >= 8, heard
        assert char_error_rate(heard, recording.text) <= 0.5, heard
    first = MANDARIN.recordings[0]  # heard all but one character right, measured
    heard = stt.transcribe(load_recording(mandarin, first.file), language="zh").text
    assert char_error_rate(heard, first.text) <= 0.15, heard


def test_whisper_hears_the_recorded_human_speech(recordings, stt):
    """JFK's "ask not" (1961) and a CMU Sphinx test command, through the test tier's Whisper."""
    for recording in (PAUSED[0], COMPLETE[1]):
        heard = stt.transcribe(load_recording(recordings, recording.file)).text
        assert word_error_rate(heard, recording.text.replace("...", "")) <= 0.15, heard


def test_the_recorded_turns_know_where_speech_ends_and_where_jfk_pauses(turns):
    assert len(turns) == len(COMPLETE) + len(PAUSED)
    for turn in turns:
        assert 0.4 < turn.speech_end < turn.audio.seconds - 1.5, turn.id
    [jfk] = [turn for turn in turns if turn.pause is not None]
    start, end = jfk.pause  # "And so, my fellow Americans ... ask not": about 1.1 s
    assert 1.5 < start < 3.5 and 0.8 < end - start < 1.5


def test_each_recorded_complete_turn_ends_after_its_last_word(turns, mandarin, store):
    """The real Silero VAD, Smart Turn and endpointer on real voices, English and Mandarin: no
    turn is cut short, and each ends by a verdict or at the upper limit of silence."""
    entry = store.catalog.choose("turn", TEST_TIER)
    model = SmartTurn.load(store.require(entry.name, "turn") / TURN_MODEL_FILE)
    vad = SileroVAD.load()
    chinese = recorded_turns(mandarin, MANDARIN)
    assert [turn.id for turn in chinese] == ["recorded zh-c1", "recorded zh-c2"]
    assert all(turn.language == "zh" for turn in chinese)
    for turn in turns + chinese:
        if turn.pause is not None:
            continue
        outcome = replay(turn, SMART, vad, model)
        assert not outcome.premature and outcome.delay_s is not None, turn.id
        limit = SMART.turn_max_ms / 1000 + max(outcome.model_ms) / 1000 + 0.2
        assert outcome.delay_s < limit, (turn.id, outcome.delay_s)
