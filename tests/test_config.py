"""Tests for assistant.config: defaults < TOML file < ASSISTANT_* environment < overrides."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, replace

import pytest

from assistant.config import (
    DEFAULT_SYSTEM_PROMPT,
    Config,
    LlmConfig,
    default_config_path,
    load_config,
    to_toml,
    voice_map,
)
from assistant.errors import ConfigError


@pytest.fixture
def no_default_file(tmp_path, monkeypatch):
    """Point the default config location at an empty directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "assistant" / "config.toml"


@pytest.fixture
def write_toml(tmp_path):
    def write(text: str, name: str = "config.toml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# defaults and precedence


def test_defaults_without_any_file(no_default_file):
    config = load_config(None, environ={})
    assert config == Config()
    assert config.llm.max_tokens == 200
    assert config.llm.system_prompt == DEFAULT_SYSTEM_PROMPT
    assert config.stt.vad_filter is True


def test_default_path_follows_xdg_config_home(no_default_file):
    assert default_config_path() == no_default_file


def test_default_file_is_read_when_it_exists(no_default_file):
    no_default_file.parent.mkdir(parents=True)
    no_default_file.write_text("[llm]\nmax_tokens = 99\n")
    assert load_config(None, environ={}).llm.max_tokens == 99


def test_empty_file_gives_defaults(write_toml):
    assert load_config(write_toml(""), environ={}) == Config()


def test_file_overrides_only_the_settings_it_names(write_toml):
    path = write_toml('[llm]\nmax_tokens = 64\nmodel = "other-model"\n\n[tts]\nspeed = 1.5\n')
    config = load_config(path, environ={})
    assert config.llm == replace(LlmConfig(), max_tokens=64, model="other-model")
    assert config.tts.speed == 1.5
    assert config.stt == Config().stt


def test_path_may_be_a_string(write_toml):
    path = write_toml("[stt]\nbeam_size = 5\n")
    assert load_config(str(path), environ={}).stt.beam_size == 5


def test_environment_overrides_file(write_toml):
    path = write_toml("[llm]\nmax_tokens = 64\ntemperature = 0.1\n")
    config = load_config(path, environ={"ASSISTANT_LLM_MAX_TOKENS": "32"})
    assert config.llm.max_tokens == 32
    assert config.llm.temperature == 0.1  # not named in the environment: the file's value


def test_environment_key_with_underscores(no_default_file):
    config = load_config(None, environ={"ASSISTANT_STT_COMPUTE_TYPE": "int8"})
    assert config.stt.compute_type == "int8"


def test_process_environment_used_when_environ_not_given(write_toml, monkeypatch):
    monkeypatch.setenv("ASSISTANT_LLM_MAX_TOKENS", "77")
    assert load_config(write_toml("[llm]\nmax_tokens = 64\n")).llm.max_tokens == 77


def test_unrelated_environment_variables_are_ignored(no_default_file):
    environ = {"HOME": "/x", "ASSISTANT_FOO_BAR": "1", "ASSISTANT_": "1", "ASSISTANT_LLM": "1"}
    assert load_config(None, environ=environ) == Config()


def test_overrides_beat_environment(write_toml):
    path = write_toml("[llm]\nmax_tokens = 64\n")
    config = load_config(
        path, environ={"ASSISTANT_LLM_MAX_TOKENS": "32"}, overrides={"llm.max_tokens": "7"}
    )
    assert config.llm.max_tokens == 7


def test_override_of_none_is_skipped(write_toml):
    path = write_toml("[llm]\nmax_tokens = 64\n")
    assert load_config(path, environ={}, overrides={"llm.max_tokens": None}).llm.max_tokens == 64


def test_override_values_keep_their_types(no_default_file):
    config = load_config(None, environ={}, overrides={"tts.speed": 2, "stt.vad_filter": False})
    assert config.tts.speed == 2.0
    assert isinstance(config.tts.speed, float)
    assert config.stt.vad_filter is False


# coercion from strings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        (" on ", True),
        ("0", False),
        ("FALSE", False),
        ("no", False),
        ("off", False),
    ],
)
def test_bool_from_string(no_default_file, text, value):
    config = load_config(None, environ={"ASSISTANT_STT_VAD_FILTER": text})
    assert config.stt.vad_filter is value


def test_int_from_string(no_default_file):
    config = load_config(None, environ={"ASSISTANT_LLM_GPU_LAYERS": "-1"})
    assert config.llm.gpu_layers == -1


def test_float_from_string(no_default_file):
    config = load_config(None, environ={"ASSISTANT_LLM_TEMPERATURE": "0.25"})
    assert config.llm.temperature == 0.25


def test_float_setting_accepts_toml_integer(write_toml):
    config = load_config(write_toml("[llm]\ntemperature = 1\n"), environ={})
    assert config.llm.temperature == 1.0
    assert isinstance(config.llm.temperature, float)


def test_string_setting_from_environment_kept_verbatim(no_default_file):
    config = load_config(None, environ={"ASSISTANT_MODELS_DIR": "/data/my models"})
    assert config.models.dir == "/data/my models"


# errors


def test_missing_explicit_file_is_an_error(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_config(path, environ={})
    assert str(path) in str(caught.value)
    assert caught.value.exit_code == 2


def test_invalid_toml_is_an_error(write_toml):
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(write_toml("[llm\nmax_tokens = = 3\n"), environ={})
    assert caught.value.exit_code == 2


def test_directory_as_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, environ={})


def test_unknown_section_in_file_lists_valid_sections(write_toml):
    with pytest.raises(ConfigError, match="unknown config section 'speakers'") as caught:
        load_config(write_toml("[speakers]\nrate = 1\n"), environ={})
    assert "(file)" in str(caught.value)
    assert "models, stt, llm, tts" in str(caught.value)
    assert caught.value.exit_code == 2


def test_unknown_section_in_overrides(no_default_file):
    with pytest.raises(ConfigError, match=r"unknown config section 'speakers' \(flag\)"):
        load_config(None, environ={}, overrides={"speakers.rate": 1})


def test_section_that_is_not_a_table(write_toml):
    with pytest.raises(ConfigError, match=r"'llm' .* must be a table"):
        load_config(write_toml("llm = 3\n"), environ={})


def test_unknown_key_lists_valid_keys(write_toml):
    with pytest.raises(ConfigError, match=r"unknown setting 'llm\.max_token' \(file\)") as caught:
        load_config(write_toml("[llm]\nmax_token = 3\n"), environ={})
    message = str(caught.value)
    for key in ("provider", "model", "context", "max_tokens", "temperature", "system_prompt"):
        assert key in message
    assert caught.value.exit_code == 2


def test_unknown_key_in_environment(no_default_file):
    with pytest.raises(ConfigError, match=r"unknown setting 'tts\.pitch' \(env\)"):
        load_config(None, environ={"ASSISTANT_TTS_PITCH": "2"})


def test_override_without_section_is_an_error(no_default_file):
    with pytest.raises(ConfigError, match=r"SECTION\.KEY"):
        load_config(None, environ={}, overrides={"max_tokens": 3})


def test_bad_int_in_environment(no_default_file):
    with pytest.raises(ConfigError, match=r"'llm\.max_tokens' \(env\) must be int") as caught:
        load_config(None, environ={"ASSISTANT_LLM_MAX_TOKENS": "lots"})
    assert "'lots'" in str(caught.value)
    assert caught.value.exit_code == 2


def test_decimal_string_is_not_an_int(no_default_file):
    with pytest.raises(ConfigError, match="must be int"):
        load_config(None, environ={"ASSISTANT_LLM_MAX_TOKENS": "1.5"})


def test_bad_float_in_file(write_toml):
    with pytest.raises(ConfigError, match=r"'llm\.temperature' \(file\) must be float"):
        load_config(write_toml('[llm]\ntemperature = "warm"\n'), environ={})


def test_bad_bool_in_environment(no_default_file):
    with pytest.raises(ConfigError, match="must be bool"):
        load_config(None, environ={"ASSISTANT_STT_VAD_FILTER": "maybe"})


def test_bool_is_not_accepted_for_a_number(write_toml):
    with pytest.raises(ConfigError, match="must be int"):
        load_config(write_toml("[llm]\nmax_tokens = true\n"), environ={})


def test_bool_is_not_accepted_for_a_string(write_toml):
    with pytest.raises(ConfigError, match="must be str"):
        load_config(write_toml("[llm]\nmodel = true\n"), environ={})


def test_array_is_not_accepted_for_a_string(write_toml):
    with pytest.raises(ConfigError, match="must be str"):
        load_config(write_toml('[llm]\nmodel = ["a", "b"]\n'), environ={})


def test_array_for_an_int_is_a_config_error(write_toml):
    with pytest.raises(ConfigError, match="must be int"):
        load_config(write_toml("[llm]\nmax_tokens = [1]\n"), environ={})


def test_float_for_an_int_is_a_config_error(write_toml):
    with pytest.raises(ConfigError, match="must be int"):
        load_config(write_toml("[llm]\nmax_tokens = 1.5\n"), environ={})


# to_toml


def test_to_toml_of_defaults_parses_to_the_same_values():
    assert tomllib.loads(to_toml(Config())) == asdict(Config())


def test_to_toml_round_trips_through_load_config(write_toml, no_default_file):
    config = load_config(
        None,
        environ={"ASSISTANT_LLM_MAX_TOKENS": "48", "ASSISTANT_STT_VAD_FILTER": "off"},
        overrides={"tts.speed": 1.25, "models.dir": "/srv/models", "llm.gpu_layers": -1},
    )
    text = to_toml(config)
    assert tomllib.loads(text) == asdict(config)
    assert load_config(write_toml(text), environ={}) == config


def test_to_toml_round_trips_system_prompt_with_quotes_backslash_and_newline(write_toml):
    prompt = 'Say "hi" to the user.\nUse C:\\path\\to style paths.\tTabs too. Ünïcode ☃'
    config = replace(Config(), llm=replace(LlmConfig(), system_prompt=prompt))
    text = to_toml(config)
    assert tomllib.loads(text)["llm"]["system_prompt"] == prompt
    assert load_config(write_toml(text), environ={}) == config


def test_to_toml_round_trips_system_prompt_with_carriage_return(no_default_file):
    config = load_config(None, environ={"ASSISTANT_LLM_SYSTEM_PROMPT": "Line one.\r\nLine two."})
    assert tomllib.loads(to_toml(config))["llm"]["system_prompt"] == "Line one.\r\nLine two."


def test_to_toml_has_one_table_per_section():
    tables = [line for line in to_toml(Config()).splitlines() if line.startswith("[")]
    assert tables == [
        "[models]",
        "[stt]",
        "[llm]",
        "[tts]",
        "[conversation]",
        "[audio]",
        "[history]",
        "[tools]",
        "[server]",
    ]


def test_a_malformed_voice_map_is_refused_when_the_config_is_loaded():
    with pytest.raises(ConfigError, match=r"tts\.voices_by_language has 'zh'.*LANGUAGE=VOICE"):
        load_config(environ={}, overrides={"tts.voices_by_language": "zh"})
    config = load_config(environ={}, overrides={"tts.voices_by_language": "ZH_cn = kokoro-kumo"})
    assert voice_map(config.tts.voices_by_language) == (("zh", "kokoro-kumo"),)


def test_the_end_of_turn_words_settings_are_read_and_checked(no_default_file):
    config = load_config(None, environ={}, overrides={
        "conversation.turn_text_check": "false", "conversation.turn_text_max_ms": "2000",
        "conversation.turn_question_ends": "false", "conversation.turn_words_wait_ms": "300",
        "conversation.turn_words_unfinished_below": "0",
        "conversation.turn_words_finished_above": "0.3",
    })  # fmt: skip
    turn = config.conversation
    assert (turn.turn_text_check, turn.turn_text_max_ms) == (False, 2000)
    assert (turn.turn_question_ends, turn.turn_words_wait_ms) == (False, 300)
    assert (turn.turn_words_unfinished_below, turn.turn_words_finished_above) == (0.0, 0.3)
    defaults = load_config(None, environ={}).conversation
    assert (defaults.turn_text_check, defaults.turn_text_max_ms) == (True, 1500)
    assert (defaults.turn_question_ends, defaults.turn_words_wait_ms) == (True, 1000)
    assert (defaults.turn_words_unfinished_below, defaults.turn_words_finished_above) == (0.03, 1)
    for key, value, says in (
        ("turn_text_max_ms", "800", r"'conversation\.turn_text_max_ms' must be at least"),
        ("turn_text_max_ms", "0", r"'conversation\.turn_text_max_ms' must be a positive"),
        ("turn_check_ms", "-5", r"'conversation\.turn_check_ms' must be a positive"),
        ("turn_words_wait_ms", "-1", r"'conversation\.turn_words_wait_ms' must be 0"),
        ("turn_words_unfinished_below", "1.5", r"unfinished_below' must be a probability from 0"),
        ("turn_words_finished_above", "-0.1", r"finished_above' must be a probability from 0"),
    ):
        with pytest.raises(ConfigError, match=says):
            load_config(None, environ={}, overrides={f"conversation.{key}": value})


@pytest.mark.parametrize("seconds", ["0.5", "31", "-10"])
def test_whispers_live_window_must_be_within_its_own(no_default_file, seconds):
    with pytest.raises(ConfigError, match=r"'stt\.turn_window_s' must be between 1 and 30"):
        load_config(overrides={"stt.turn_window_s": seconds})
    assert load_config(overrides={"stt.turn_window_s": "30"}).stt.turn_window_s == 30.0
