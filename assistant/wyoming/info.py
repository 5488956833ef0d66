"""What `describe` answers: an `info` event listing the programs this server offers (asr, tts,
handle, wake) with every model and voice it serves, their languages,
attribution (who made them, where from, under which licence) and version."""

from __future__ import annotations

from wyoming.event import Event
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
    TtsVoiceSpeaker,
    WakeModel,
    WakeProgram,
)

from .. import __version__
from ..config import Config
from ..providers.catalog import MULTILINGUAL, ModelCatalog, ModelEntry
from ..providers.kokoro import ID_PREFIX as KOKORO_PREFIX
from ..providers.loading import Engines
from ..providers.wake_words import WakeWord
from ..types import Voice

PROJECT = Attribution(name="offline voice assistant", url="")  # runs on this machine
HUB = "https://huggingface.co"
MICROWAKEWORD_URL = "https://github.com/kahrendt/microWakeWord"
# Whisper's languages, for a multilingual model ("multi" in the catalog)
WHISPER_LANGUAGES = (
    "af",
    "am",
    "ar",
    "as",
    "az",
    "ba",
    "be",
    "bg",
    "bn",
    "bo",
    "br",
    "bs",
    "ca",
    "cs",
    "cy",
    "da",
    "de",
    "el",
    "en",
    "es",
    "et",
    "eu",
    "fa",
    "fi",
    "fo",
    "fr",
    "gl",
    "gu",
    "ha",
    "haw",
    "he",
    "hi",
    "hr",
    "ht",
    "hu",
    "hy",
    "id",
    "is",
    "it",
    "ja",
    "jw",
    "ka",
    "kk",
    "km",
    "kn",
    "ko",
    "la",
    "lb",
    "ln",
    "lo",
    "lt",
    "lv",
    "mg",
    "mi",
    "mk",
    "ml",
    "mn",
    "mr",
    "ms",
    "mt",
    "my",
    "ne",
    "nl",
    "nn",
    "no",
    "oc",
    "pa",
    "pl",
    "ps",
    "pt",
    "ro",
    "ru",
    "sa",
    "sd",
    "si",
    "sk",
    "sl",
    "sn",
    "so",
    "sq",
    "sr",
    "su",
    "sv",
    "sw",
    "ta",
    "te",
    "tg",
    "th",
    "tk",
    "tl",
    "tr",
    "tt",
    "uk",
    "ur",
    "uz",
    "vi",
    "yi",
    "yo",
    "zh",
    "yue",
)


def build_info(
    config: Config, engines: Engines, catalog: ModelCatalog, wake_words: tuple[WakeWord, ...] = ()
) -> Event:
    """The `info` event for these engines and downloaded wake words (a stage this server lacks
    is simply not listed)."""
    info = Info()
    if engines.stt is not None:
        model = _described(catalog, config.stt.model, "stt")
        info.asr = [AsrProgram(
            name="assistant-stt", attribution=PROJECT, installed=True, version=__version__,
            description="Speech to text with faster-whisper (offline voice assistant)",
            models=[AsrModel(languages=_languages(model), **_artifact(model, config.stt.model))],
            supports_transcript_streaming=True,
        )]  # fmt: skip
    if engines.tts is not None:
        info.tts = [TtsProgram(
            name="assistant-tts", attribution=PROJECT, installed=True, version=__version__,
            description="Text to speech with Piper and Kokoro (offline voice assistant)",
            voices=[_voice(catalog, voice) for voice in engines.tts.voices()],
            supports_synthesize_streaming=True,
        )]  # fmt: skip
    if engines.chat is not None:
        model = _described(catalog, config.llm.model, "llm")
        info.handle = [HandleProgram(
            name="assistant-conversation", attribution=PROJECT, installed=True,
            version=__version__,
            description="Conversation agent: a local language model with llama.cpp",
            models=[HandleModel(languages=_languages(model),
                                **_artifact(model, config.llm.model or "remote"))],
        )]  # fmt: skip
    if wake_words:
        info.wake = [WakeProgram(
            name="assistant-wake", attribution=PROJECT, installed=True, version=__version__,
            description="Wake words with microWakeWord (offline voice assistant)",
            models=[_wake_model(catalog, word) for word in wake_words],
        )]  # fmt: skip
    return info.event()


def _wake_model(catalog: ModelCatalog, word: WakeWord) -> WakeModel:
    """A wake word, described by its phrase: what Home Assistant shows in its wake word list."""
    entry = _described(catalog, word.model, "wake")
    licence = entry.license if entry is not None else "unknown"
    files = entry.files if entry is not None else ()
    weights = next((f for f in files if f.name == f"{word.name}.tflite"), None)
    return WakeModel(
        name=word.name, phrase=word.phrase, languages=list(word.languages),
        attribution=Attribution(name=f"microWakeWord (licence {licence})", url=MICROWAKEWORD_URL),
        installed=True, description=word.phrase,
        version=weights.sha256[:12] if weights is not None and weights.sha256 else None,
    )  # fmt: skip


def _described(catalog: ModelCatalog, name: str, role: str) -> ModelEntry | None:
    """The catalog's entry for a model (None for a remote endpoint's or an unknown name)."""
    return next((e for e in catalog.by_role(role) if e.name == name), None)


def _artifact(entry: ModelEntry | None, name: str) -> dict:
    """name, attribution, installed, description and version of a model."""
    if entry is None:
        return {"name": name, "attribution": Attribution(name="", url=""), "installed": True,
                "description": name, "version": None}  # fmt: skip
    owner = entry.huggingface.partition("/")[0] if entry.huggingface else ""
    url = f"{HUB}/{entry.huggingface}" if entry.huggingface else ""
    first = entry.files[0] if entry.files else None
    return {
        "name": entry.name,
        "attribution": Attribution(name=owner or entry.provenance, url=url),
        "installed": True,
        "description": f"{entry.description} (licence {entry.license})",
        "version": first.sha256[:12] if first and first.sha256 else entry.revision,
    }


def model_languages(catalog: ModelCatalog, name: str, role: str) -> list[str]:
    """The language codes a configured model speaks ([] when unknown: a remote endpoint's)."""
    return _languages(_described(catalog, name, role))


def _languages(entry: ModelEntry | None) -> list[str]:
    if entry is None:
        return []
    codes = [code for code in entry.languages if code != MULTILINGUAL]
    if MULTILINGUAL in entry.languages:
        codes += [code for code in WHISPER_LANGUAGES if code not in codes]
    return codes


def _voice(catalog: ModelCatalog, voice: Voice) -> TtsVoice:
    entry = _described(catalog, voice.id, "tts") or _kokoro_entry(catalog, voice)
    artifact = _artifact(entry, voice.id)
    if voice.description and entry is not None:  # its character, and the model's licence
        artifact["description"] = f"{voice.description} ({entry.name}, licence {entry.license})"
    artifact["name"] = voice.id
    languages = list(dict.fromkeys([voice.language, *voice.languages]))  # en_US, en, zh...
    speakers = [TtsVoiceSpeaker(name) for name in voice.speakers] or None
    return TtsVoice(languages=languages, speakers=speakers, **artifact)


def _kokoro_entry(catalog: ModelCatalog, voice: Voice) -> ModelEntry | None:
    """The Kokoro model a Kokoro voice pack belongs to."""
    if not voice.id.startswith(KOKORO_PREFIX):
        return None
    return next((e for e in catalog.by_role("tts") if e.name.startswith(KOKORO_PREFIX)), None)
