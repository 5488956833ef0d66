"""Fuzzing the configuration: TOML files (valid, mutated, not UTF-8), ASSISTANT_* variables and
--set flags. Each gives a configuration or one ConfigError that names the bad key (the CLI: one
line, exit 2), never a traceback."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import fields

import fuzzing
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st
from serving import ASSISTANT, clean_env

from assistant.cli.main import cli
from assistant.config import Config, load_config
from assistant.errors import ConfigError

KNOWN = sorted(
    f"{section.name}.{item.name}"
    for section in fields(Config)
    for item in fields(section.default_factory())
)
keys = st.sampled_from(KNOWN) | st.sampled_from(["llm", "llm.", ".x", "nosuch.key", "llm.nokey"])
scalars = fuzzing.scalars
values = fuzzing.nested(scalars, 5)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def toml_document(settings: dict[str, object]) -> str:
    sections: dict[str, list[str]] = {}
    for dotted, value in settings.items():
        section, _, key = dotted.partition(".")
        sections.setdefault(section, []).append(f"{json.dumps(key)} = {toml_value(value)}")
    return "".join(
        f"[{json.dumps(s)}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items()
    )


def loads_or_names_the_problem(settings: dict[str, object], **sources) -> None:
    try:
        config = load_config(**sources)
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message.strip() and message, message
        named = [k for k in settings if k in message or k.partition(".")[0] in message]
        assert named or "TOML" in message or "UTF-8" in message, (message, settings)
    else:
        assert isinstance(config, Config)


@fuzzing.scaled(200)
@given(settings=st.dictionaries(keys, values, max_size=5))
@example(settings={"conversation.vad_threshold": math.nan})  # was accepted as a threshold
@example(settings={"llm.temperature": math.inf})
def test_toml_files_give_a_config_or_an_error_naming_the_key(tmp_path_factory, settings):
    path = tmp_path_factory.mktemp("toml") / "config.toml"
    try:
        path.write_text(toml_document(settings), encoding="utf-8")
    except UnicodeEncodeError:  # a lone surrogate in a generated key
        return
    loads_or_names_the_problem(settings, path=path, environ={})


@fuzzing.scaled(150)
@given(data=st.binary(max_size=300))
@example(data=b"\xff\xfe[llm]\nmax_tokens = 3\n")  # was a UnicodeDecodeError traceback
@example(data=b"[llm]\nmax_tokens = 99999999999999999999999999\n")
def test_any_bytes_as_the_file_give_a_config_or_one_clear_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "config.toml"
    path.write_bytes(data)
    try:
        load_config(path, environ={})
    except ConfigError as error:
        assert str(error).startswith(("config file", "unknown config", "setting", "tts."))


@fuzzing.scaled(200)
@given(settings=st.dictionaries(keys, st.text(max_size=20) | scalars.map(str), max_size=5))
@example(settings={"llm.max_tokens": "9" * 5000})  # more digits than int() takes
@example(settings={"tts.speed": "1e400"})
@example(settings={"tts.voices_by_language": "0\n0"})  # found by the long profile: two lines
def test_environment_and_flags_give_a_config_or_an_error_naming_the_key(settings):
    environ = {"ASSISTANT_" + k.replace(".", "_").upper(): v for k, v in settings.items()}
    loads_or_names_the_problem(settings, path=None, environ=environ)
    loads_or_names_the_problem(settings, path=None, environ={}, overrides=settings)


@fuzzing.scaled(60)
@given(setting=st.text(max_size=40) | st.builds("{}={}".format, keys, st.text(max_size=10)))
def test_set_flags_exit_2_with_one_line(setting):
    result = CliRunner().invoke(cli, ["--set", setting, "config", "show"])
    assert result.exit_code in (0, 2), (setting, result.output, result.exception)
    if result.exit_code == 2:
        assert "Traceback" not in result.output and "Error" in result.output


def test_a_file_that_is_not_utf8_is_one_line_and_exit_2(tmp_path):
    """Regression: a config file in Latin-1 (or any non-UTF-8 bytes) printed a traceback."""
    path = tmp_path / "config.toml"
    path.write_bytes('[llm]\nsystem_prompt = "Tu es un assistant français"\n'.encode("latin-1"))
    result = subprocess.run(
        [ASSISTANT, "--config", str(path), "config", "show"],
        capture_output=True, text=True, env=clean_env(tmp_path), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "is not UTF-8 text" in result.stderr and "Traceback" not in result.stderr
