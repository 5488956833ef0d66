"""Chinese end to end: a Mandarin question heard in Chinese characters, answered in Chinese and
spoken by a voice Whisper understands as Chinese; the language of each turn picks the voice and
tells the model; the history finds Chinese words."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.audio.codec import decode_file
from assistant.config import load_config
from assistant.conversation.persona import persona_line, speaking_voice
from assistant.conversation.reply import ReplySettings
from assistant.conversation.turn import voice_turn
from assistant.errors import ConfigError, UsageError
from assistant.history.records import TurnRecord
from assistant.history.store import SQLiteHistory
from assistant.providers.registry import create_stt
from assistant.script import in_script
from assistant.text import has_cjk
from assistant.types import ChatMessage

ASSISTANT = str(Path(sys.executable).parent / "assistant")
# "I'd like a cup of hot tea, and you?": of the questions tried, the one espeak-ng's Mandarin
# says most clearly (Whisper base hears "我想喝一杯喝茶"; "中国的首都是哪个城市" came out as
# "從我的手督臂下的身體")
QUESTION = "我想喝一杯热茶，你呢？"


def mandarin(text: str, path: Path) -> Path:
    """`text` spoken by espeak-ng 1.52's Mandarin voice into `path` (the benchmark's speech maker,
    run in its own process: Kokoro's phonemizer drives the same library in this one)."""
    make = (
        "import sys, pathlib; from assistant.bench.espeak_library import synthesize; "
        "synthesize(sys.argv[1], 'cmn', 175, pathlib.Path(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", make, text, str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def mandarin_question(tmp_path_factory) -> Path:
    return mandarin(QUESTION, tmp_path_factory.mktemp("mandarin") / "question.wav")


def assistant(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [ASSISTANT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    return result


def test_a_mandarin_question_is_answered_in_spoken_chinese(mandarin_question, tmp_path, store):
    """The acceptance test: `assistant reply --language zh` with the default tier's model."""
    answer = tmp_path / "answer.wav"
    result = assistant(
        "--set", "models.tier=default", "reply", "--language", "zh",
        str(mandarin_question), "-o", str(answer),
    )  # fmt: skip
    said = [line.partition(": ") for line in result.stdout.splitlines()]
    lines = {who: text for who, _, text in said}
    assert "喝一杯" in lines["you"], result.stdout  # heard in Chinese characters
    assert has_cjk(lines["assistant"]), result.stdout  # answered in Chinese
    assert decode_file(answer).sample_rate == 24000  # spoken by the Chinese voice (Kokoro)
    heard = json.loads(
        assistant("--set", "stt.model=whisper-base", "transcribe", "--json", str(answer)).stdout
    )
    assert heard["language"] == "zh" and has_cjk(heard["text"]), heard


class Listening:
    """The real chat model, keeping the messages it was asked with."""

    def __init__(self, chat) -> None:
        self.chat, self.asked = chat, []

    def stream_chat(self, messages, **options):
        self.asked.append(list(messages))
        return self.chat.stream_chat(messages, **options)


@pytest.fixture(scope="module")
def detecting_stt(config, store):
    """Whisper base with the language detected each turn (`--language auto`)."""
    stt = replace(config.stt, model="whisper-base", language="auto")
    return create_stt(replace(config, stt=stt), store)


def test_each_turn_is_answered_in_the_language_it_was_spoken_in(
    detecting_stt, chat, tts, mandarin_question, question_wav
):
    settings = ReplySettings(
        voice="en_US-joe-medium", voices_by_language=(("zh", "kokoro-nezumi"),)
    )
    history = [ChatMessage("system", "Be brief.")]
    listening = Listening(chat)
    chinese = voice_turn(
        decode_file(mandarin_question), detecting_stt, listening, tts,
        history=history, settings=settings,
    )  # fmt: skip
    assert has_cjk(chinese.heard), chinese.heard
    nezumi, joe = (persona_line(speaking_voice(tts.voices(), name, None))
                   for name in ("kokoro-nezumi", "en_US-joe-medium"))  # fmt: skip
    assert nezumi.startswith("You are Nezumi") and joe.startswith("You are Joe")
    assert [m.content for m in listening.asked[0][:2]] == [
        f"Be brief. {nezumi}",  # the voice that speaks the turn brings its character
        "Answer in Mandarin Chinese (简体中文).",
    ]
    assert chinese.audio is not None and chinese.audio.sample_rate == 24000  # kokoro-nezumi
    english = voice_turn(
        decode_file(question_wav), detecting_stt, listening, tts,
        history=history, settings=settings,
    )  # fmt: skip
    assert "Romeo" in english.heard
    assert listening.asked[1][0].content == f"Be brief. {joe}"  # English: no language line
    assert all(m.role != "system" for m in listening.asked[1][1:])
    assert english.audio is not None and english.audio.sample_rate == 22050  # Piper's joe


def test_the_history_finds_chinese_words(tmp_path):
    history = SQLiteHistory.open(tmp_path / "history.db")
    try:
        conversation = history.start_conversation()
        at = 1_700_000_000.0
        history.add_turn(conversation, TurnRecord("user", QUESTION, started_at=at, ended_at=at))
        history.add_turn(
            conversation,
            TurnRecord(
                "assistant", "好啊，我也想喝热茶。", started_at=at + 2, ended_at=at + 4,
                generated="好啊，我也想喝热茶。绿茶有三千多年的历史。",
            ),
        )  # fmt: skip
        assert [hit.role for hit in history.search("热茶")] == ["assistant", "user"]
        hits = history.search("三千多年")  # only in what was generated
        assert [hit.text for hit in hits] == ["好啊，我也想喝热茶。绿茶有三千多年的历史。"]
        assert history.search("咖啡") == []
    finally:
        history.close()


def test_say_reads_chinese_text_with_a_chinese_voice(tmp_path):
    spoken = tmp_path / "hello.wav"
    assistant("say", "你好，世界。", "-o", str(spoken), timeout=300)
    assert decode_file(spoken).sample_rate == 24000  # Kokoro, not Piper's English joe


def test_transcribe_with_a_language_hears_it_with_the_tiers_model_for_it(store):
    """`assistant transcribe --language zh` on recorded Mandarin (AISHELL-1): the tier's
    multilingual Whisper, not its English-only one (which would answer in English words)."""
    recording = store.require("recordings-zh", "speech") / "aishell-0121.wav"
    heard = assistant("transcribe", "--language", "zh", str(recording)).stdout
    assert sum(has_cjk(c) for c in heard) >= 8, heard
    english = assistant("transcribe", str(recording)).stdout  # the English model, as before
    assert not has_cjk(english), english
    told = subprocess.run(  # an English-only model named for Chinese: a clear error
        [ASSISTANT, "--set", "stt.model=whisper-tiny.en", "transcribe", "--language", "zh",
         str(recording)], capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert told.returncode != 0 and "Traceback" not in told.stderr, told.stderr
    assert "hears English only, not 'zh'" in told.stderr, told.stderr


def test_an_english_only_model_configured_for_chinese_fails_at_load(config, store):
    """talk, serve and wyoming load the speech-to-text before any turn: a configuration that
    could only write English words for Mandarin stops there, not at each turn."""
    stt = replace(config.stt, model="whisper-tiny.en", language="zh")
    with pytest.raises(UsageError, match="hears English only, not 'zh'"):
        create_stt(replace(config, stt=stt), store)
    for language in ("en", "auto", ""):  # what an English-only model can hear loads
        create_stt(replace(config, stt=replace(stt, language=language)), store)


@pytest.mark.parametrize("script", ["simplified", "traditional"])
def test_mandarin_is_transcribed_in_the_chosen_script(config, store, tmp_path, script):
    """stt.chinese_script: Whisper mixes the two scripts; the transcript is written in one."""
    spoken = tmp_path / "sentence.wav"
    assistant("say", "我们说话的时候，这个软件会听见。", "-o", str(spoken), timeout=300)
    stt = replace(config.stt, model="whisper-base", language="zh", chinese_script=script)
    heard = create_stt(replace(config, stt=stt), store).transcribe(decode_file(spoken)).text
    assert has_cjk(heard), heard
    assert in_script(heard, script) == heard, heard  # nothing left in the other script
    assert " " not in heard, heard  # Chinese segments are joined without spaces
    other = "traditional" if script == "simplified" else "simplified"
    assert in_script(heard, other) != heard, heard  # it has characters that differ


def test_chinese_script_is_a_checked_setting():
    with pytest.raises(ConfigError, match=r"stt\.chinese_script"):
        load_config(path=None, environ={}, overrides={"stt.chinese_script": "pinyin"})
