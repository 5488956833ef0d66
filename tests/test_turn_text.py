"""The end of turn read from the words (conversation/turn_text.py): transcripts, as Whisper writes
them, that must read as unfinished, and ones that must not; and how the words combine with the
end-of-turn model's answer."""

from __future__ import annotations

import pytest

from assistant.conversation.turn_text import TextVerdict, TurnVerdict, combine, read_turn

UNFINISHED = (
    # English: conjunctions, prepositions, articles, possessives, fillers, Whisper's "..."
    "I'd like to",
    "I'd like to.",
    "Can you remind me to...",
    "Can you remind me to-",
    "What is the",
    "What is the.",
    "Please set an alarm for",
    "I was wondering if",
    "Tell me about",
    "Turn off the lights and",
    "I want to go out but",
    "It's cold, so",
    "I can't sleep because",
    "Put it in my",
    "Send a message to your",
    "Play a song by",
    "Is it warmer than",
    "Book a table for two at",
    "Um",
    "Book a table, uh.",
    "So I was thinking, um...",
    "I need a",
    "Give me an",
    "Could you",
    "Could you?",
    "Can you?",
    "I'd like",
    "I’d like to.",
    "And then I wanted to ask…",
    "My favourite colour is…",
    # Mandarin: particles and conjunctions that lead on, fillers
    "我想问一下因为",
    "今天的天气和",
    "我很累但是",
    "先开灯然后",
    "我要的就是",
    "我饿了所以",
    "这个嗯",
    "帮我查一下呃",
    "那个",
    "我想买一本书的",
    "你可以把",
    "如果",
    "我想",
    "请问",
    "我喜欢苹果和香蕉还有",
    "我想去北京或者。",
    "我很累，因為",  # traditional script
    "先開燈然後",
)
NOT_UNFINISHED = (
    "What time is it in Tokyo?",
    "Turn off the kitchen lights.",
    "Set a timer for 10 minutes.",
    "Play some quiet music, please.",
    "Where are you from?",
    "What is it for?",
    "Who are you talking to?",
    "I think so.",
    "I hope so.",
    "Thank you.",
    "Turn the lights on.",
    "Log me in.",
    "Tell me about it.",
    "I like that.",
    "My favourite colour is green.",
    "How many?",
    "Okay then.",
    "No.",
    "",
    "   ",
    ".",
    "今天天气怎么样？",
    "现在几点了？",
    "请把客厅的灯关掉。",
    "谢谢",
    "我要这个。",
    "他不在。",
    "好啊！",
)


@pytest.mark.parametrize("transcript", UNFINISHED)
def test_a_turn_whose_words_lead_on_is_unfinished(transcript):
    assert read_turn(transcript) is TextVerdict.UNFINISHED


@pytest.mark.parametrize("transcript", NOT_UNFINISHED)
def test_a_turn_that_can_end_there_is_not_called_unfinished(transcript):
    assert read_turn(transcript) is not TextVerdict.UNFINISHED


@pytest.mark.parametrize(
    "transcript", ["What time is it?", "Where are you from?", "今天天气怎么样？", "Really?"]
)
def test_a_question_mark_reads_as_a_finished_question(transcript):
    assert read_turn(transcript) is TextVerdict.QUESTION


@pytest.mark.parametrize("transcript", ["Turn off the lights.", "I'd like to book a table.", "好"])
def test_a_period_alone_says_nothing(transcript):
    """Whisper puts a period after nearly everything, a cut-off sentence included."""
    assert read_turn(transcript) is TextVerdict.UNKNOWN


def test_unfinished_words_overrule_a_complete_model_and_wait_longer():
    for model_complete in (True, False):
        decided = combine(model_complete, "I'd like to.", text_check=True, question_ends=False)
        assert decided == TurnVerdict(complete=False, unfinished_words=True)


def test_without_a_transcript_or_with_the_check_off_the_model_alone_decides():
    for model_complete in (True, False):
        for transcript in (None, ""):
            decided = combine(model_complete, transcript, text_check=True, question_ends=True)
            assert decided == TurnVerdict(model_complete, False)
        off = combine(model_complete, "I'd like to", text_check=False, question_ends=True)
        assert off == TurnVerdict(model_complete, False)


def test_a_question_overrules_incomplete_only_when_asked_to():
    assert not combine(False, "Where is it?", text_check=True, question_ends=False).complete
    assert combine(False, "Where is it?", text_check=True, question_ends=True).complete
    assert not combine(False, "Could you?", text_check=True, question_ends=True).complete
    assert combine(True, "Turn the lights on.", text_check=True, question_ends=False).complete


def test_the_language_models_reading_of_the_words_weighs_as_set():
    rules = {"text_check": True, "question_ends": True, "unfinished_below": 0.05}
    going_on = TurnVerdict(complete=False, unfinished_words=True)
    # read as going on: overrules a complete model and a question mark alike
    assert combine(True, "How many?", words_end=0.001, **rules) == going_on
    assert combine(True, "I need to know.", words_end=0.01, **rules) == going_on
    # not under the threshold, or not read: the rules without it
    assert combine(True, "I need to know.", words_end=0.2, **rules).complete
    assert combine(True, "How many?", words_end=None, **rules).complete
    assert not combine(False, "Turn the lights on.", words_end=0.9, **rules).complete
    # read as finished: overrules "incomplete" only when set
    assert combine(False, "Turn it on.", words_end=0.9, finished_above=0.3, **rules).complete
    assert not combine(False, "Turn it.", words_end=0.2, finished_above=0.3, **rules).complete
    # the word lists still win, and with the words' check off nothing is read
    assert combine(True, "I'd like to", words_end=0.9, **rules) == going_on
    off = {**rules, "text_check": False}
    assert combine(True, "How many?", words_end=0.001, **off) == TurnVerdict(True, False)
