"""Provider name -> factory. Engines are imported only when their provider is created."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from ..config import Config
from ..errors import UnknownNameError
from . import ChatModel, SpeechToText, TextToSpeech
from .store import ModelStore
from .tiers import resolve_models

# provider name -> "module:factory"; each factory takes (config, store)
_STT = {"faster-whisper": "faster_whisper:create", "openai": "openai_compat:create_stt"}
_CHAT = {"llama-cpp": "llama_cpp:create", "openai": "openai_compat:create_chat"}
_TTS = {
    "local": "local_voices:create",  # every Piper and Kokoro voice, routed by voice id
    "piper": "piper:create",
    "kokoro": "kokoro:create",
    "openai": "openai_compat:create_tts",
}


def _factory(table: dict[str, str], kind: str, name: str) -> Callable:
    if name not in table:
        raise UnknownNameError(f"{kind} provider", name, table)
    module, _, function = table[name].partition(":")
    return getattr(import_module(f"{__package__}.{module}"), function)


def create_stt(config: Config, store: ModelStore) -> SpeechToText:
    config = resolve_models(config, store.catalog)  # empty names: the tier's
    return _factory(_STT, "speech-to-text", config.stt.provider)(config, store)


def create_chat(config: Config, store: ModelStore) -> ChatModel:
    config = resolve_models(config, store.catalog)  # empty names: the tier's
    return _factory(_CHAT, "chat", config.llm.provider)(config, store)


def create_tts(config: Config, store: ModelStore) -> TextToSpeech:
    config = resolve_models(config, store.catalog)  # empty names: the tier's
    return _factory(_TTS, "text-to-speech", config.tts.provider)(config, store)
