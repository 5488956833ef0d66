"""`assistant bench --quality`: the fixed question set, how answers are scored, and one real
quick run of the tiny tier end to end (no timing is asserted: the figures go to the report)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from assistant.bench.corpus import char_error_rate, characters
from assistant.bench.quality import TIERS, check_quality_targets, parse_tiers
from assistant.bench.quality_report import quality_markdown
from assistant.bench.quality_stt import sentences
from assistant.bench.questions import (
    CATEGORIES,
    LANGUAGES,
    QUESTIONS,
    accuracy,
    is_chinese,
    normalize,
    score,
    selected,
)
from assistant.errors import UsageError

ASSISTANT = [sys.executable, "-m", "assistant"]
BY_ID = {q.id: q for q in QUESTIONS}

# (question id, an answer that must count as right, one that must not)
KNOWN = (
    ("en-capital-france", "The capital of France is Paris.", "It is Lyon, a lovely city."),
    ("en-spider-legs", "A spider has eight legs.", "Spiders have 18 legs."),
    ("en-seven-times-eight", "Seven times eight is 56.", "Seven times eight is 54."),
    ("en-minutes-two-hours", "There are one hundred and twenty minutes.", "About 12 minutes."),
    ("en-freezing", "Water freezes at 0 degrees Celsius.", "At 100 degrees."),
    ("en-name", "Your name is Ada.", "I don't have a name."),
    ("en-age-next-year", "You will be thirty-one.", "You will be thirty."),
    ("en-breakfast", "I don't know what you had for breakfast.", "You had eggs and toast."),
    ("en-password", "I do not have access to your email.", "Your password is hunter2."),
    ("zh-capital-china", "中国的首都是北京。", "中国的首都是上海。"),
    ("zh-capital-france", "法国的首都是巴黎。", "The capital of France is Paris."),
    ("zh-hundred-by-five", "一百除以五等于二十。", "等于一百二十。"),
    ("zh-nine-times-six", "九乘以六等于54。", "九乘以六等于45。"),
    ("zh-name", "你叫小明。", "我不知道你的名字。"),
    ("zh-breakfast", "我不知道你早上吃了什么。", "你吃了包子和豆浆。"),
)


def test_the_question_set_covers_both_languages_and_every_category():
    assert len(QUESTIONS) >= 50
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS), "question ids must be unique"
    per_language = Counter(q.language for q in QUESTIONS)
    assert per_language["en"] >= 30 and per_language["zh"] >= 12, per_language
    assert set(per_language) == set(LANGUAGES)
    pairs = {(q.language, q.category) for q in QUESTIONS}
    assert pairs == {(lang, cat) for lang in LANGUAGES for cat in CATEGORIES}
    for question in QUESTIONS:
        assert question.accept, question.id
        assert all(isinstance(p, re.Pattern) for p in question.patterns())
        assert question.text.strip() and all(s.strip() for s in question.setup)
        if question.language == "zh":
            assert is_chinese(question.text), question.id
    assert all(q.setup for q in QUESTIONS if q.category == "follow-up")
    quick = selected(quick=True)
    assert 4 <= len(quick) <= 8 and {q.category for q in quick} == set(CATEGORIES)
    assert {q.language for q in quick} == set(LANGUAGES)
    assert selected(quick=False) == QUESTIONS


@pytest.mark.parametrize(("question_id", "good", "bad"), KNOWN)
def test_a_known_good_answer_is_right_and_a_known_bad_one_is_not(question_id, good, bad):
    question = BY_ID[question_id]
    assert score(question, good).correct, good
    assert not score(question, bad).correct, bad


def test_answers_are_matched_case_and_width_insensitively():
    assert score(BY_ID["en-capital-france"], "ＰＡＲＩＳ。").correct  # full-width letters
    assert score(BY_ID["zh-months"], "一年有１２个月。").correct  # full-width digits
    assert score(BY_ID["en-name"], "Your name is ADA.").correct
    assert normalize("Ｄon’t") == "don't"


def test_a_chinese_question_must_be_answered_in_chinese():
    assert is_chinese("巴黎 (Paris)")
    assert is_chinese("北京是中国的首都。")
    assert not is_chinese("The capital of China is Beijing (北京).")
    assert not is_chinese("Paris")
    assert not is_chinese("")
    right_words_wrong_language = score(BY_ID["zh-capital-china"], "It is 北京, of course.")
    assert right_words_wrong_language.matched and not right_words_wrong_language.in_language
    assert not right_words_wrong_language.correct


def test_accuracy_is_counted_per_language_and_category_from_scripted_answers():
    answers = {
        "en-capital-france": "Paris.",  # right
        "en-two-plus-three": "Four.",  # wrong
        "en-name": "Your name is Ada.",  # right
        "en-breakfast": "You had pancakes.",  # wrong: invented
        "zh-capital-china": "北京。",  # right
        "zh-name": "Your name is 小明.",  # right words, but English: wrong
    }
    results = [(BY_ID[i], score(BY_ID[i], text)) for i, text in answers.items()]
    tally = accuracy(results)
    assert tally["all"] == {"correct": 3, "n": 6, "rate": 0.5}
    assert tally["en"] == {"correct": 2, "n": 4, "rate": 0.5}
    assert tally["zh"] == {"correct": 1, "n": 2, "rate": 0.5}
    assert tally["by_category"]["fact"] == {"correct": 2, "n": 2, "rate": 1.0}
    assert tally["by_category"]["arithmetic"]["correct"] == 0
    assert tally["by_category"]["follow-up"] == {"correct": 1, "n": 2, "rate": 0.5}
    assert tally["by_category"]["refusal"] == {"correct": 0, "n": 1, "rate": 0.0}
    assert tally["zh_answered_in_chinese"] == {"correct": 1, "n": 2, "rate": 0.5}


def test_character_error_rate_counts_han_characters_without_punctuation():
    assert characters("我住在上海。") == list("我住在上海")
    assert char_error_rate("我住在上海", "我住在上海。") == 0.0
    assert char_error_rate("我住在上海嗎", "我住在上海。") == pytest.approx(0.2)
    assert char_error_rate("", "你好") == 1.0
    assert char_error_rate("ＡＢ", "ab") == 0.0  # width and case


def test_the_stt_sentences_leave_out_numbers():
    english, chinese = sentences("en", quick=False), sentences("zh", quick=False)
    assert len(english) >= 20 and len(chinese) >= 8
    assert not any(re.search(r"\b(two|seven|forty)\b", s, re.I) for s in english)
    assert all(is_chinese(s) for s in chinese)
    assert len(sentences("en", quick=True)) == 2


def test_tiers_are_parsed_and_an_unknown_one_is_a_usage_error():
    assert parse_tiers("tiny, default,tiny") == ("tiny", "default")
    assert parse_tiers(",".join(TIERS)) == TIERS
    with pytest.raises(UsageError, match="unknown tier huge; choose from tiny, default, large"):
        parse_tiers("tiny,huge")
    with pytest.raises(UsageError):
        parse_tiers(" , ")


def test_the_report_names_the_pull_command_of_a_skipped_tier():
    results = {
        "meta": {"date": "2026-01-01 00:00 UTC", "machine": "a CPU", "cpu_count": 2,
                 "load_before": "0", "load_after": "0", "others_cpu_share": 0.0,
                 "questions": 53, "spoken_questions": 22, "max_tokens": 200, "quick": False},
        "tiers": {"large": {"status": "skipped", "reason": "not downloaded: qwen",
                            "pull": "assistant models pull --tier large"}},
        "stt": [{"model": "whisper-base", "language": "zh", "voice": "espeak-ng cmn",
                 "metric": "cer", "status": "skipped",
                 "pull": "assistant models pull whisper-base"}],
    }  # fmt: skip
    results["targets"] = check_quality_targets(results)
    assert results["targets"] == []  # nothing measured: nothing to check
    table = quality_markdown(results)
    assert (
        "Tier large: skipped (not downloaded: qwen); `assistant models pull --tier large`" in table
    )
    assert "`assistant models pull whisper-base`" in table


def test_the_quality_run_rejects_bad_options():
    unknown = subprocess.run(
        [*ASSISTANT, "bench", "--quality", "--tiers", "huge"], capture_output=True, text=True
    )
    assert unknown.returncode == 2
    assert "unknown tier huge" in unknown.stderr and "Traceback" not in unknown.stderr
    alone = subprocess.run([*ASSISTANT, "bench", "--tiers", "tiny"], capture_output=True, text=True)
    assert alone.returncode == 2 and "--tiers goes with --quality" in alone.stderr


def _number(value, low: float, high: float) -> bool:
    return isinstance(value, int | float) and low <= value <= high


def test_a_quick_quality_run_of_the_tiny_tier_writes_both_files(tmp_path):
    result = subprocess.run(
        [*ASSISTANT, "bench", "--quality", "--quick", "--tiers", "tiny", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "benchmark-quality.json").read_text())
    table = (tmp_path / "benchmark-quality.md").read_text()
    assert table in result.stdout  # the table is printed too
    assert list(results["tiers"]) == ["tiny"]
    tiny = results["tiers"]["tiny"]
    assert tiny["status"] == "measured", tiny
    assert tiny["models"]["llm"] == "smollm2-135m-instruct"
    quick = selected(quick=True)
    assert tiny["accuracy"]["all"]["n"] == len(quick) == len(tiny["answers"])
    assert all(0 <= t["rate"] <= 1 for t in (tiny["accuracy"]["en"], tiny["accuracy"]["zh"]))
    assert all(a["answer"] for a in tiny["answers"]), "every question got an answer"
    assert _number(tiny["llm"]["tokens_per_s"]["p50"], 1, 10_000)
    assert _number(tiny["llm"]["first_token_ms"]["p50"], 1, 60_000)
    spoken = tiny["spoken"]
    assert spoken["first_audio_ms"]["n"] == len(spoken["turns"]) >= 1
    assert _number(spoken["first_audio_ms"]["p50"], 1, 60_000)
    assert all(t["heard"] for t in spoken["turns"]), "the spoken questions were heard"
    assert _number(tiny["memory"]["peak_rss_mb"], 50, 16_000)
    rows = {(r["model"], r["language"], r["voice"].split()[0]): r for r in results["stt"]}
    assert set(rows) == {
        ("whisper-tiny.en", "en", "espeak-ng"), ("whisper-base", "en", "espeak-ng"),
        ("whisper-base", "zh", "espeak-ng"),
        ("whisper-tiny.en", "en", "recorded"), ("whisper-base", "en", "recorded"),
        ("whisper-base", "zh", "recorded"),
    }  # fmt: skip
    human = rows[("whisper-tiny.en", "en", "recorded")]  # recordings-en: pulled by the set-up
    assert human["status"] == "measured" and _number(human["mean"], 0, 0.5), human
    assert human["by_rate_wpm"] == {} and "recorded human" in table
    mandarin = rows[("whisper-base", "zh", "recorded")]  # recordings-zh: AISHELL-1, in Chinese
    assert mandarin["status"] == "measured" and mandarin["metric"] == "cer", mandarin
    assert _number(mandarin["mean"], 0, 0.6) and "recordings-zh" in mandarin["voice"]
    english = rows[("whisper-tiny.en", "en", "espeak-ng")]
    assert english["status"] == "measured" and english["metric"] == "wer"
    assert _number(english["mean"], 0, 0.5), english  # espeak-ng's clear English is heard
    assert set(english["by_rate_wpm"]) == {"140", "175"}
    for row in results["stt"]:
        if row["status"] == "measured":
            assert row["n"] == len(row["samples"]) >= 2 and _number(row["mean"], 0, 5)
            assert _number(row["live_mean"], 0, 5) and row["live_window_s"] == 30.0
            assert all(s["heard_live"] for s in row["samples"]), "live turns are heard too"
            assert _number(row["file_ms_p50"], 1, 60_000) and _number(row["live_ms_p50"], 1, 60_000)
    assert _number(english["live_mean"], 0, 0.5), english
    assert results["meta"]["quick"] is True
    assert "| all |" in table and "peak resident memory (MB)" in table
    assert "WER" in table
    assert any((tmp_path / "corpus" / "stt").glob("*.wav")), "the speech is cached in --output"
