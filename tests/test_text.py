"""Tests for assistant.text: cleaning model output for speech and cutting it into chunks."""

from __future__ import annotations

import pytest

from assistant.conversation.played import heard_words
from assistant.text import (
    CLAUSE_PAUSE_S,
    MAX_CHUNK_CHARS,
    MAX_CJK_CHUNK_CHARS,
    SENTENCE_PAUSE_S,
    SentenceSplitter,
    chunk_limit,
    clean_for_speech,
    growing_pieces,
    has_cjk,
    join_units,
    pause_after,
    speakable_chunks,
    speech_units,
)

# A paragraph whose first sentence has no clause mark after six words, so the first-clause
# rule never applies and streaming must give exactly what feeding it whole gives.
PARAGRAPH = (
    "Dr. Smith poured 3.5 litres into the tank. It held, e.g. for a week, without a leak! "
    "Was that expected? Nobody knew, because the old records, the ones from 1998, were lost. "
    "Then the team went home.\nA new line starts here"
)
PARAGRAPH_SENTENCES = [
    "Dr. Smith poured 3.5 litres into the tank.",
    "It held, e.g. for a week, without a leak!",
    "Was that expected?",
    "Nobody knew, because the old records, the ones from 1998, were lost.",
    "Then the team went home.",
    "A new line starts here",
]


def split_whole(text: str, **options) -> list[str]:
    splitter = SentenceSplitter(**options)
    return splitter.feed(text) + splitter.flush()


def split_streamed(text: str, size: int = 3, **options) -> list[str]:
    splitter = SentenceSplitter(**options)
    chunks: list[str] = []
    for start in range(0, len(text), size):
        chunks += splitter.feed(text[start : start + size])
    return chunks + splitter.flush()


# clean_for_speech


@pytest.mark.parametrize(
    "text",
    [
        "It's 3.5 km away, isn't it? Yes: about 20% of the way (roughly).",
        'Well - maybe; a well-known "quote" too!',
        "Café, naïve and 東京 stay as they are.",
        "First line\nSecond line",
    ],
)
def test_clean_leaves_plain_text_unchanged(text):
    assert clean_for_speech(text) == text


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("# Title\nBody", "Title\nBody"),
        ("## Second level\nBody", "Second level\nBody"),
        ("### Third", "Third"),
    ],
)
def test_clean_removes_heading_marks(markdown, spoken):
    assert clean_for_speech(markdown) == spoken


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("Some **bold** text.", "Some bold text."),
        ("Some __bold__ text.", "Some bold text."),
        ("Some *italic* text.", "Some italic text."),
        ("Some _italic_ text.", "Some italic text."),
        ("Some ~~struck~~ text.", "Some struck text."),
        ("Some ***both*** text.", "Some both text."),
    ],
)
def test_clean_removes_emphasis_marks(markdown, spoken):
    assert clean_for_speech(markdown) == spoken


def test_clean_removes_bullet_marks():
    assert clean_for_speech("- one\n* two\n+ three\n• four") == "one\ntwo\nthree\nfour"


def test_clean_removes_numbered_list_marks():
    assert clean_for_speech("1. first\n2) second\n10. tenth") == "first\nsecond\ntenth"


def test_clean_replaces_link_with_its_text():
    assert clean_for_speech("Read [the manual](https://example.com/docs) first.") == (
        "Read the manual first."
    )


def test_clean_replaces_image_with_its_alt_text():
    assert clean_for_speech("![a cat](cat.png) sits.") == "a cat sits."


def test_clean_keeps_inline_code_text_without_backticks():
    assert clean_for_speech("Run `ls -l` now.") == "Run ls -l now."


def test_clean_drops_code_blocks():
    text = "Here it is.\n```python\nimport os\nprint(os.getcwd())\n```\nThat is all."
    assert clean_for_speech(text) == "Here it is.\nThat is all."


def test_clean_drops_unclosed_code_block():
    assert clean_for_speech("Look:\n```\nrm -rf build") == "Look:"


def test_clean_drops_bare_urls():
    assert clean_for_speech("See https://example.com/a?b=c for more.") == "See for more."


def test_clean_removes_quote_marks_and_rules():
    assert clean_for_speech("> quoted\n---\nafter") == "quoted\nafter"


def test_clean_removes_emoji():
    assert clean_for_speech("Great 🎉 news 😀 today") == "Great news today"


def test_clean_removes_emoji_with_skin_tone():
    assert clean_for_speech("Thumbs 👍🏽 up") == "Thumbs up"


def test_clean_removes_control_and_format_characters():
    assert clean_for_speech("a\x07b\x00c\x1bd") == "a b c d"
    assert clean_for_speech("zero\u200bwidth") == "zerowidth"


def test_clean_collapses_blank_lines_and_spaces():
    assert clean_for_speech("  one   two \n\n\n three  ") == "one two\nthree"


# SentenceSplitter


def test_splitter_whole_text_gives_sentences():
    assert split_whole(PARAGRAPH) == PARAGRAPH_SENTENCES


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_splitter_streamed_gives_same_sentences_as_whole(size):
    assert split_streamed(PARAGRAPH, size) == split_whole(PARAGRAPH)


def test_splitter_streamed_emits_sentence_as_soon_as_it_is_complete():
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there") == []
    assert splitter.feed(".") == []  # could still be "there.5" or an abbreviation
    assert splitter.feed(" How") == ["Hello there."]


@pytest.mark.parametrize(
    "text", ["Dr. Smith is here.", "Ask Mrs. Jones now.", "Bring fruit, e.g. apples."]
)
def test_splitter_does_not_split_after_abbreviation(text):
    assert split_streamed(text) == [text]


def test_splitter_does_not_split_decimal_number():
    assert split_streamed("It costs 3.5 euros. Cheap.") == ["It costs 3.5 euros.", "Cheap."]


@pytest.mark.parametrize("mark", ["!", "?", "…"])
def test_splitter_splits_at_other_sentence_ends(mark):
    assert split_streamed(f"Really{mark} Yes.") == [f"Really{mark}", "Yes."]


def test_splitter_keeps_closing_quote_with_sentence():
    assert split_streamed('He said "stop." Then left.') == ['He said "stop."', "Then left."]


def test_splitter_splits_at_newline():
    splitter = SentenceSplitter()
    assert splitter.feed("First line\nSecond") == ["First line"]
    assert splitter.flush() == ["Second"]


def test_splitter_flush_returns_unterminated_remainder():
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there. How are") == ["Hello there."]
    assert splitter.flush() == ["How are"]
    assert splitter.flush() == []


def test_splitter_flush_of_whitespace_gives_nothing():
    splitter = SentenceSplitter()
    splitter.feed("   \n  ")
    assert splitter.flush() == []


@pytest.mark.parametrize("mark", [",", ":", ";", " -", " —"])
def test_splitter_first_chunk_cut_at_clause_once_long_enough(mark):
    text = f"So here is my fairly long opening thought{mark} and the rest follows."
    chunks = split_streamed(text)
    assert chunks[0] == f"So here is my fairly long opening thought{mark}"
    assert chunks[1:] == ["and the rest follows."]


def test_splitter_first_chunk_not_cut_at_clause_before_enough_words():
    text = "Well, I think that is fine."
    assert split_streamed(text) == [text]


def test_splitter_first_clause_word_count_is_configurable():
    text = "Well, I think that is fine."
    assert split_streamed(text, first_clause_words=1) == ["Well,", "I think that is fine."]


def test_splitter_first_chunk_cut_before_a_joining_word_once_long_enough():
    text = "The sky is a deep shade of blue with a hint of pink. It is lovely with clouds."
    assert split_streamed(text) == [
        "The sky is a deep shade of blue",
        "with a hint of pink.",
        "It is lovely with clouds.",
    ]
    short = "Cats are very clever and can be trained to do many amazing things."
    assert split_streamed(short) == [short]  # "and" after four words: too early


def test_splitter_no_joining_word_cut_inside_quotes():
    text = 'The old play "A Tale of Love and Loss and Hope" was written by Shakespeare and friends.'
    assert split_streamed(text) == [
        'The old play "A Tale of Love and Loss and Hope" was written by Shakespeare',
        "and friends.",
    ]


def test_splitter_later_chunks_not_cut_at_clause():
    text = (
        "One two three four five six seven, eight. "
        "Then this second sentence has many words, and a comma in the middle."
    )
    assert split_streamed(text) == [
        "One two three four five six seven,",
        "eight.",
        "Then this second sentence has many words, and a comma in the middle.",
    ]


def test_splitter_no_clause_cut_after_a_sentence_was_emitted():
    splitter = SentenceSplitter()
    assert splitter.feed("Hi. ") == ["Hi."]
    assert splitter.feed("This one has more than six words, then a comma") == []


RUN_ON = " ".join(f"word{i}" for i in range(400))[:2000]


@pytest.mark.parametrize("max_chars", [MAX_CHUNK_CHARS, 50])
def test_splitter_run_on_text_never_exceeds_max_chars_when_streamed(max_chars):
    splitter = SentenceSplitter(max_chars=max_chars)
    fed: list[str] = []
    for start in range(0, len(RUN_ON), 3):
        fed += splitter.feed(RUN_ON[start : start + 3])
    flushed = splitter.flush()
    assert len(fed) >= len(RUN_ON) // max_chars - 1  # cut while streaming, not held back
    assert all(len(chunk) <= max_chars for chunk in fed)
    assert all(len(chunk) <= max_chars for chunk in flushed)
    assert " ".join(fed + flushed).split() == RUN_ON.split()  # cut at spaces, nothing lost


@pytest.mark.parametrize("max_chars", [MAX_CHUNK_CHARS, 50])
def test_splitter_run_on_text_never_exceeds_max_chars_when_fed_whole(max_chars):
    splitter = SentenceSplitter(max_chars=max_chars)
    fed = splitter.feed(RUN_ON)
    flushed = splitter.flush()
    assert fed
    assert all(len(chunk) <= max_chars for chunk in fed + flushed)
    assert " ".join(fed + flushed).split() == RUN_ON.split()


def test_splitter_run_on_without_spaces_is_cut_at_max_chars():
    text = "x" * 2000
    chunks = split_streamed(text)
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in chunks)
    assert "".join(chunks) == text


def test_splitter_hard_cut_prefers_clause_boundary_to_space():
    words = ("alpha beta gamma delta " * 5).strip()  # 113 characters
    text = f"Hi. {words}, {words} {words}."
    chunks = split_streamed(text, max_chars=160)
    assert chunks[:2] == ["Hi.", f"{words},"]
    assert all(len(chunk) <= 160 for chunk in chunks)


def test_splitter_long_sentence_fed_whole_never_exceeds_max_chars():
    sentence = " ".join(f"word{i}" for i in range(100)) + "."  # 690 characters
    splitter = SentenceSplitter()
    chunks = splitter.feed(sentence + " Next one.") + splitter.flush()
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in chunks)


def test_splitter_long_sentence_streamed_never_exceeds_max_chars():
    sentence = " ".join(f"word{i}" for i in range(100)) + "."
    chunks = split_streamed(sentence + " Next one.")
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in chunks)
    assert " ".join(chunks).split() == (sentence + " Next one.").split()


# speakable_chunks


def test_speakable_chunks_of_string_are_clean_sentences():
    text = "# Hello\nThis is **bold**. See [the docs](https://x.org). Done"
    assert list(speakable_chunks(text)) == ["Hello", "This is bold.", "See the docs.", "Done"]


def test_speakable_chunks_of_deltas_match_string():
    text = "This is **really** good. And *this* too! Final words"
    deltas = iter([text[i : i + 3] for i in range(0, len(text), 3)])
    assert list(speakable_chunks(deltas)) == list(speakable_chunks(text))


def test_speakable_chunks_of_deltas_yield_before_stream_ends():
    def deltas():
        yield "First sentence here. "
        yield "Second"
        raise AssertionError("the stream was read past the first sentence before yielding")

    chunks = speakable_chunks(deltas())
    assert next(chunks) == "First sentence here."


def test_speakable_chunks_skip_chunks_that_clean_to_nothing():
    assert list(speakable_chunks("😀🎉\n---\nHello.")) == ["Hello."]


def test_speakable_chunks_pass_options_to_splitter():
    assert list(speakable_chunks("x" * 100, max_chars=40)) == ["x" * 40, "x" * 40, "x" * 20]


def test_speakable_chunks_never_exceed_max_chunk_chars_for_prose():
    text = " ".join(f"**word{i}**" for i in range(500))
    chunks = list(speakable_chunks(text))
    assert chunks
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in chunks)


def test_speakable_chunks_never_exceed_max_chunk_chars_for_table_cells():
    text = "|".join(["ab"] * 200)
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in speakable_chunks(text))


def test_speakable_chunks_drop_code_blocks_like_clean_for_speech():
    text = "Here it is.\n```python\nimport os\nprint(os.getcwd())\n```\nThat is all."
    assert list(speakable_chunks(text)) == ["Here it is.", "That is all."]


# --- Chinese (and other text written without spaces) --------------------------------------

CHINESE = "你好！我是你的语音助手，很高兴认识你。今天北京的天气很好，气温二十度；适合散步吗？当然。"


def test_chinese_sentences_end_at_full_width_marks_without_spaces():
    assert split_whole(CHINESE, first_clause_words=100) == [
        "你好！",
        "我是你的语音助手，很高兴认识你。",
        "今天北京的天气很好，气温二十度；",
        "适合散步吗？",
        "当然。",
    ]


def test_chinese_first_chunk_may_end_at_a_comma_counting_characters_as_words():
    def streamed(text: str) -> list[str]:  # as a model writes it: a few characters at a time
        splitter = SentenceSplitter(first_clause_words=6)
        pieces = [text[i : i + 2] for i in range(0, len(text), 2)]
        return [chunk for piece in pieces for chunk in splitter.feed(piece)] + splitter.flush()

    text = "北京是中国的首都，也是一座有三千多年历史的古城。"
    assert streamed(text) == ["北京是中国的首都，", "也是一座有三千多年历史的古城。"]
    # fewer than six characters before the comma: no early cut
    assert streamed("北京，也是一座有三千多年历史的古城。") == [
        "北京，也是一座有三千多年历史的古城。"
    ]


def test_chinese_streamed_in_pieces_gives_the_same_chunks():
    whole = split_whole(CHINESE)
    splitter = SentenceSplitter()
    streamed = [chunk for char in CHINESE for chunk in splitter.feed(char)] + splitter.flush()
    assert streamed == whole


def test_chinese_chunks_are_bounded_in_characters():
    run_on = "我们今天要讨论的问题非常复杂、需要很多时间、而且涉及很多方面" * 8  # no sentence end
    chunks = list(speakable_chunks(run_on))
    assert "".join(chunks) == run_on
    assert all(len(chunk) <= MAX_CJK_CHUNK_CHARS for chunk in chunks), chunks
    assert all(chunk.endswith("、") for chunk in chunks[:-1]), chunks  # cut at a clause mark
    no_marks = "中" * 200
    assert [len(c) for c in speakable_chunks(no_marks)] == [60, 60, 60, 20]
    assert chunk_limit("Hello there") == MAX_CHUNK_CHARS
    assert chunk_limit("你好 there") == MAX_CJK_CHUNK_CHARS


def test_chinese_markdown_and_emoji_are_cleaned():
    text = "## 标题\n**注意**：明天会下雨😀。请看[天气预报](https://example.com)和`代码`。"
    assert clean_for_speech(text) == "标题\n注意：明天会下雨。请看天气预报和代码。"
    assert list(speakable_chunks("- 第一点🙂\n- 第二点")) == ["第一点", "第二点"]


def test_english_numbers_and_commas_are_not_chinese_clauses():
    assert split_whole("It costs 1,000 dollars, I think, for the set.", first_clause_words=2) == [
        "It costs 1,000 dollars,",
        "I think, for the set.",
    ]


def test_speech_units_count_each_chinese_character_as_a_word():
    assert speech_units("我喜欢 Python 语言。") == ["我", "喜", "欢", "Python", "语", "言", "。"]
    assert join_units(speech_units("我喜欢 Python and C 语言。")) == "我喜欢Python and C语言。"
    assert join_units(speech_units("plain English words")) == "plain English words"
    assert has_cjk("日本語") and has_cjk("한국어") and not has_cjk("café")


def test_heard_words_keeps_the_played_share_of_a_chinese_chunk():
    chunks = [("你好！", 0.0, 1.0), ("今天天气很好。", 1.0, 3.0)]
    assert heard_words(chunks, 3.0) == "你好！今天天气很好。"
    assert heard_words(chunks, 2.0) == "你好！今天天"  # half of seven units, rounded down
    assert heard_words(chunks, 0.5) == "你"  # half of three units


class FakeClock:
    """The splitter's clock, set by the test (a model's speed cannot be chosen)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_splitter_timed_first_cut_ends_at_a_word_once_the_time_has_passed():
    clock = FakeClock()
    splitter = SentenceSplitter(first_cut_ms=300, first_cut_words=3, clock=clock)
    assert splitter.feed("The capital city") == []
    assert splitter.feed(" of France") == []  # 5 words, but not yet 300 ms
    clock.now += 0.35
    assert splitter.feed(" is") == ["The capital city of France"]  # "is" may go on
    assert splitter.feed(" Paris. It is") == ["is Paris."]
    assert splitter.feed(" big and old") == []  # later chunks end at sentences only
    assert splitter.flush() == ["It is big and old"]


def test_splitter_timed_first_cut_never_ends_on_a_leaning_word_or_too_early():
    clock = FakeClock()
    splitter = SentenceSplitter(first_cut_ms=300, first_cut_words=3, clock=clock)
    assert splitter.feed("The capital") == []
    clock.now += 1
    assert splitter.feed(" of") == []  # two words
    assert splitter.feed(" the") == []  # would end on "of"
    assert splitter.feed(" country") == []  # would end on "the"
    assert splitter.feed(" is") == ["The capital of the country"]


def test_splitter_timed_first_cut_is_off_by_default_and_skips_quotes_and_chinese():
    assert split_streamed("The capital city of France is Paris.") == [
        "The capital city of France is Paris."
    ]
    clock = FakeClock()
    quoted, chinese = (SentenceSplitter(first_cut_ms=100, clock=clock) for _ in range(2))
    assert quoted.feed('He said "one') == [] and chinese.feed("法国的首都是") == []
    clock.now += 1
    assert quoted.feed(" two three four and") == []
    assert chinese.feed(" 巴黎 很美") == []


def test_the_first_chunk_settings_reach_the_reply_and_are_checked():
    from assistant.config import load_config
    from assistant.conversation.options import conversation_options
    from assistant.errors import ConfigError

    overrides = {"conversation.first_chunk_ms": "200", "conversation.first_chunk_words": "4"}
    settings = conversation_options(load_config(overrides=overrides)).reply_settings()
    assert (settings.first_chunk_ms, settings.first_chunk_words) == (200, 4)
    with pytest.raises(ConfigError, match=r"conversation\.first_chunk_ms"):
        load_config(overrides={"conversation.first_chunk_ms": "-1"})


def test_growing_pieces_are_whole_clauses_each_at_most_twice_the_one_before():
    text = (
        "Sure, the capital of France is Paris, which is also the largest city in the country, "
        "famous for its museums and old churches. Would you like to know more?"
    )
    pieces = growing_pieces(text)
    assert pieces == [
        "Sure, the capital of France is Paris,",  # "Sure," alone is under two words
        "which is also the largest city in the country,",  # 9 words: one clause, as it comes
        "famous for its museums and old churches. Would you like to know more?",  # 12 <= 2 x 9
    ]
    counting = [len(speech_units(piece)) for piece in growing_pieces("One, " * 40 + "end.")]
    assert counting == [2, 4, 8, 16, 11]  # 41 words
    assert " ".join(growing_pieces(text)) == text


def test_growing_pieces_cut_chinese_at_its_own_punctuation():
    text = "好的，法国的首都是巴黎，它也是法国最大的城市。你想了解更多吗？"
    pieces = growing_pieces(text)
    assert pieces == ["好的，", "法国的首都是巴黎，", "它也是法国最大的城市。", "你想了解更多吗？"]
    assert "".join(pieces) == text
    assert growing_pieces("") == [] and growing_pieces("当然可以。") == ["当然可以。"]
    assert growing_pieces("I met Dr. Watson there, and then Mr. Holmes.") == [
        "I met Dr. Watson there,",
        "and then Mr. Holmes.",
    ]


def test_the_pause_after_a_piece_follows_its_last_mark():
    assert pause_after("It is late.") == pause_after("真的吗？”") == SENTENCE_PAUSE_S
    assert pause_after("Well,") == pause_after("好的，") == CLAUSE_PAUSE_S
    assert pause_after("and then") == 0.0 and pause_after("") == 0.0


def test_splitter_clause_chunks_end_every_chunk_at_a_clause_as_it_is_written():
    # for a voice that makes each chunk's audio at once and slowly (Kokoro): its next chunk
    # starts being made once its first clause is written, not the whole sentence
    text = (
        "Of course. The Great Wall is an ancient defensive structure in northern China, more "
        "than twenty thousand kilometres long."
    )
    streamed = []
    for clauses in (True, False):
        splitter = SentenceSplitter(clause_chunks=clauses)
        chunks = [c for word in text.split(" ") for c in splitter.feed(word + " ")]
        streamed.append(chunks + splitter.flush())
    assert streamed[0] == [
        "Of course.",
        "The Great Wall is an ancient defensive structure in northern China,",
        "more than twenty thousand kilometres long.",
    ]
    assert streamed[1] == ["Of course.", text.removeprefix("Of course. ")]
    splitter = SentenceSplitter(clause_chunks=True)
    chinese = "好的，法国的首都是巴黎，它也是法国最大的城市，有很多著名的博物馆。"
    chunks = [c for character in chinese for c in splitter.feed(character)] + splitter.flush()
    assert chunks == ["好的，法国的首都是巴黎，", "它也是法国最大的城市，", "有很多著名的博物馆。"]
