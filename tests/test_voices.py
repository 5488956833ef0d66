"""The voices: every installed voice of every engine behind one provider, each intelligible to
Whisper in the languages it claims; `assistant voices`; the per-language choice; `instructions`."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import word_error_rate

from assistant.audio.codec import concat
from assistant.bench.corpus import char_error_rate
from assistant.config import voice_map
from assistant.conversation.events import Notice
from assistant.conversation.language import (
    answer_line,
    unvoiced_notice,
    voice_for,
    with_language,
)
from assistant.conversation.turn import voice_turn
from assistant.errors import ModelMissingError, UnknownNameError, UsageError
from assistant.providers import speak_text, speaks_by_clause
from assistant.providers.instructions import read_instructions
from assistant.providers.local_voices import VoiceRouter
from assistant.providers.registry import create_stt, create_tts
from assistant.providers.store import ModelStore
from assistant.text import CLAUSE_PAUSE_S, MAX_CHUNK_CHARS
from assistant.types import AudioChunk, ChatMessage, Transcription, Voice

ASSISTANT = str(Path(sys.executable).parent / "assistant")
ENGLISH = "The weather today is sunny with a light breeze."
MANDARIN = "今天天气很好。"
VOICES = (  # the five voices the README promises, and Piper's joe
    "en_US-joe-medium",
    "kokoro-nezumi",
    "kokoro-kumo",
    "kokoro-tebukuro",
    "kokoro-alpha",
    "kokoro-gongitsune",
)


@pytest.fixture(scope="module")
def whisper_base(config, store):
    """The multilingual Whisper, to hear the Mandarin."""
    return create_stt(replace(config, stt=replace(config.stt, model="whisper-base")), store)


def test_the_local_provider_offers_every_voice_with_languages_and_a_character(tts):
    voices = {voice.id: voice for voice in tts.voices()}
    assert set(VOICES) <= set(voices), voices
    for voice in voices.values():
        assert voice.languages and ":" in voice.description, voice  # "Name: character"
    assert voices["kokoro-nezumi"].speaks("zh") and voices["kokoro-nezumi"].speaks("en-US")
    assert not voices["en_US-joe-medium"].speaks("zh")


@pytest.mark.parametrize("voice", VOICES)
def test_each_voice_speaks_english_that_whisper_understands(tts, whisper_base, voice):
    # Whisper base, as in the README's measurements (tiny.en hears the Kokoro voices' accent
    # less well: "Please, time off for 10 minutes" for "set a timer for ten minutes")
    audio = concat(tts.synthesize(ENGLISH, voice=voice))
    assert audio.seconds > 1.0
    heard = whisper_base.transcribe(audio, language="en").text
    assert word_error_rate(heard, ENGLISH) <= 0.25, (voice, heard)


@pytest.mark.parametrize("voice", [v for v in VOICES if v.startswith("kokoro-")])
def test_each_kokoro_voice_speaks_mandarin_that_whisper_understands(tts, whisper_base, voice):
    audio = concat(tts.synthesize(MANDARIN, voice=voice))
    heard = whisper_base.transcribe(audio, language="zh").text
    # Whisper base writes some words in Traditional characters (天氣): those count as errors
    assert char_error_rate(heard, MANDARIN) <= 0.5, (voice, heard)


def test_kokoro_speaks_a_long_sentence_clause_by_clause_with_the_pauses_between(tts, whisper_base):
    # one call made the whole sentence's audio before any of it (2-4 s on the two cores)
    sentence = "好的，法国的首都是巴黎，它也是法国最大的城市，有很多著名的博物馆和古老的教堂。"
    pieces = list(tts.synthesize(sentence, voice="kokoro-nezumi"))
    assert len(pieces) == 4, [piece.seconds for piece in pieces]  # 好的， / 法国的首都是巴黎， ...
    assert pieces[0].seconds < 0.25 * sum(piece.seconds for piece in pieces)
    clause_end = pieces[0].to_float32()[-int(0.8 * CLAUSE_PAUSE_S * pieces[0].sample_rate) :]
    assert not clause_end.any()  # the comma's pause, which kokoro-onnx trims off each call
    heard = whisper_base.transcribe(concat(pieces), language="zh").text
    assert char_error_rate(heard, sentence) <= 0.3, heard


def test_a_conversation_hands_kokoro_voices_a_clause_at_a_time(tts):
    assert speaks_by_clause(tts, "kokoro-nezumi") and speaks_by_clause(tts, "kokoro-kumo")
    assert not speaks_by_clause(tts, "en_US-joe-medium")
    assert not speaks_by_clause(tts, None)  # the default voice: joe
    assert not speaks_by_clause(tts, "nobody") and not speaks_by_clause(None, None)


def test_the_cli_lists_the_voices_with_languages_and_character():
    result = subprocess.run(
        [ASSISTANT, "voices"], capture_output=True, text=True, timeout=120, check=True
    )
    lines = result.stdout.splitlines()
    assert len(lines) >= 5
    nezumi = next(line for line in lines if line.startswith("kokoro-nezumi "))
    assert "en,zh" in nezumi and "Nezumi:" in nezumi and "default for zh" in nezumi
    chinese = subprocess.run(
        [ASSISTANT, "voices", "--language", "zh"], capture_output=True, text=True, timeout=120
    )
    assert "en_US-joe-medium" not in chinese.stdout and "kokoro-kumo" in chinese.stdout
    bad = subprocess.run(
        [ASSISTANT, "voices", "--language", "Chinese!"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "not a language code" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_router_refuses_unknown_voices_and_unbounded_text(tts):
    with pytest.raises(UnknownNameError, match="kokoro-nezumi"):
        list(tts.synthesize("Hello.", voice="nobody"))
    for voice in ("en_US-joe-medium", "kokoro-kumo"):
        with pytest.raises(UsageError, match="speak_text"):
            list(tts.synthesize("word " * MAX_CHUNK_CHARS, voice=voice))
    long_chinese = "今天天气很好，" * 30  # speak_text cuts it into chunks the engines take
    assert concat(speak_text(tts, long_chinese, voice="kokoro-nezumi")).seconds > 10


@pytest.mark.parametrize("text", ["－", "-", "－－", "—", "…"])
def test_a_chunk_of_punctuation_alone_is_silence_not_an_error(tts, text):
    # kokoro-onnx raised "No phonemes of '－'" on the tiny model's Chinese
    for voice in ("en_US-joe-medium", "kokoro-kumo", "kokoro-nezumi"):
        assert concat(list(tts.synthesize(text, voice=voice))).seconds < 0.5, voice


def test_a_kokoro_model_name_as_the_voice_means_its_voice_for_the_language(config, store):
    tts = create_tts(replace(config, tts=replace(config.tts, voice="kokoro-82m-v1.0-int8")), store)
    assert next(iter(tts.synthesize("Hi.", voice=None))).sample_rate == 24000
    with pytest.raises(UnknownNameError):
        create_tts(replace(config, tts=replace(config.tts, voice="no-such-voice")), store)
    with pytest.raises(UnknownNameError):
        VoiceRouter([], "kokoro-nezumi")


def test_a_voice_of_a_model_not_downloaded_names_the_model_to_pull(config, store, tmp_path):
    joe = tmp_path / "en_US-joe-medium"
    joe.mkdir()
    for name in ("voice.onnx", "voice.onnx.json"):
        (joe / name).hardlink_to(store.path("en_US-joe-medium") / name)
    only_joe = ModelStore(tmp_path, store.catalog)
    wanted = replace(config, tts=replace(config.tts, voice="kokoro-nezumi"))
    with pytest.raises(ModelMissingError, match=r"kokoro-82m-v1\.0-int8"):
        create_tts(wanted, only_joe)
    with pytest.raises(UsageError, match="no voice is downloaded"):
        create_tts(wanted, ModelStore(tmp_path / "empty", store.catalog))


def test_each_turn_gets_the_voice_of_its_language():
    voices = [
        Voice("en_US-joe-medium", "en_US", 22050, languages=("en",)),
        Voice("kokoro-kumo", "en", 24000, languages=("en", "zh")),
        Voice("kokoro-nezumi", "en", 24000, languages=("en", "zh")),
    ]
    by_language = dict(voice_map("zh=kokoro-nezumi, en = en_US-joe-medium"))
    assert voice_for(voices, "en_US-joe-medium", "zh", by_language) == "kokoro-nezumi"
    assert voice_for(voices, "en_US-joe-medium", "en", by_language) == "en_US-joe-medium"
    assert voice_for(voices, "kokoro-kumo", "zh", by_language) == "kokoro-kumo"  # it speaks zh
    assert voice_for(voices, None, "zh-CN", {}) == "kokoro-kumo"  # the first that speaks it
    assert voice_for(voices, "en_US-joe-medium", "fr", by_language) == "en_US-joe-medium"
    assert voice_for(voices, "en_US-joe-medium", None, by_language) == "en_US-joe-medium"
    with pytest.raises(UsageError, match="LANGUAGE=VOICE"):
        voice_map("zh:kokoro-nezumi")


def test_the_model_is_told_the_language_to_answer_in():
    history = [ChatMessage("system", "Be brief."), ChatMessage("user", "北京在哪里？")]
    told = with_language(history, "zh")
    # just before the question, so the system prompt (llama.cpp's cached prefix) stays the same
    assert told == [
        history[0],
        ChatMessage("system", "Answer in Mandarin Chinese (简体中文)."),
        history[1],
    ]
    assert with_language(history, "en") == history and answer_line(None) == ""
    assert with_language(history[1:], "zh")[0].role == "system"


def test_instructions_map_to_what_the_engines_change_and_report_the_rest():
    style = read_instructions("Speak slowly and calmly, with a British accent. Whisper!")
    assert style.speed < 1.0 and style.pause_s > 0 and style.volume < 1.0
    assert style.applied == ("Speak slowly", "calmly", "Whisper")
    assert style.ignored == ("with a British accent",)
    cheerful = read_instructions("cheerful and upbeat")
    assert cheerful.speed > 1.0 and cheerful.noise_scale and not cheerful.ignored
    assert read_instructions(None) == read_instructions("") == read_instructions(" , ")


@pytest.mark.parametrize("voice", ["en_US-joe-medium", "kokoro-kumo"])
def test_instructions_change_the_speech(tts, voice):
    def spoken(instructions: str | None):
        audio = concat(tts.synthesize(ENGLISH, voice=voice, instructions=instructions))
        return audio.seconds, float(np.sqrt(np.mean(audio.to_float32() ** 2)))

    plain_seconds, plain_loudness = spoken(None)
    slow_seconds, _ = spoken("speak slowly")
    quiet_seconds, quiet_loudness = spoken("whisper")
    assert slow_seconds > plain_seconds * 1.15  # slower, and a pause after the sentence
    assert quiet_loudness < plain_loudness * 0.5
    assert abs(quiet_seconds - plain_seconds) < 0.6


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import openai
    from serving import running_server

    tmp = tmp_path_factory.mktemp("serve-voices")
    with (
        running_server(tmp, env={"ASSISTANT_MODELS_TIER": "tiny"}) as server,
        openai.OpenAI(base_url=server.api, api_key="none", max_retries=0, timeout=300) as api,
    ):
        yield api


def test_the_api_reports_which_instructions_it_followed(client):
    response = client.audio.speech.with_raw_response.create(
        model="tts-1",
        voice="kokoro-kumo",
        input="The weather is fine today.",
        instructions="Speak slowly and calmly, in a British accent.",
        response_format="wav",
    )
    assert response.headers["x-voice"] == "kokoro-kumo"
    assert response.headers["x-instructions-applied"] == "Speak slowly; calmly"
    assert response.headers["x-instructions-ignored"] == "in a British accent"
    assert len(response.content) > 24000  # a WAV of speech
    plain = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="en_US-joe-medium", input="Fine.", response_format="wav"
    )
    assert "x-instructions-ignored" not in plain.headers


def test_the_api_picks_a_voice_that_speaks_the_text_for_openai_voice_names(client):
    chinese = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input="你好，世界。", response_format="wav"
    )
    assert chinese.headers["x-voice"] == "kokoro-nezumi"
    english = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input="Hello, world.", response_format="wav"
    )
    assert english.headers["x-voice"] == "en_US-joe-medium"


def test_the_conversation_settings_carry_the_voices_by_language_and_instructions(config):
    from assistant.conversation.options import conversation_options

    tts = replace(config.tts, voices_by_language="zh=kokoro-kumo", instructions="speak slowly")
    settings = conversation_options(replace(config, tts=tts)).reply_settings()
    assert settings.voices_by_language == (("zh", "kokoro-kumo"),)
    assert settings.instructions == "speak slowly"
    with pytest.raises(UsageError, match="LANGUAGE=VOICE"):
        conversation_options(replace(config, tts=replace(tts, voices_by_language="zh")))


class HearsFrench:
    """Speech-to-text that heard a French question (no French voice is installed)."""

    def transcribe(self, audio, **options) -> Transcription:
        return Transcription("Où est Paris ?", language="fr", duration=audio.seconds)


def test_a_language_no_voice_speaks_is_read_by_the_default_voice_with_a_notice(chat, tts):
    voices = tts.voices()
    assert unvoiced_notice(voices, None, "zh") == ""  # Kokoro speaks it
    assert unvoiced_notice(voices, None, "en") == ""
    events = []
    silence = AudioChunk(bytes(32000), 16000)
    turn = voice_turn(silence, HearsFrench(), chat, tts, on_event=events.append)
    assert turn.audio is not None  # still answered aloud, by the default voice
    notices = [event.message for event in events if isinstance(event, Notice)]
    assert notices == [unvoiced_notice(voices, None, "fr")], events
    assert "French" in notices[0] and "models pull --language fr" in notices[0]
