"""OpenAI's model and voice names, accepted as aliases of the configured local ones."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..providers import TextToSpeech
from ..providers.openai_api import OPENAI_VOICES
from .errors import ApiError

OPENAI_STT_MODELS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
)
OPENAI_CHAT_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4-turbo",
    "gpt-4",
    "gpt-3.5-turbo",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
    "chatgpt-4o-latest",
)
OPENAI_TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


@dataclass(frozen=True)
class Names:
    """The names one kind of thing accepts: local ones, and OpenAI's as aliases of `default`."""

    kind: str  # "model" or "voice"
    local: tuple[str, ...]
    aliases: tuple[str, ...]
    default: str  # the local name every alias stands for

    @property
    def valid(self) -> tuple[str, ...]:
        return self.local + tuple(a for a in self.aliases if a not in self.local)

    def resolve(self, name: str) -> str:
        """The local name for `name`; 404 listing the valid names when it is neither."""
        if name in self.local:
            return name
        if name in self.aliases:
            return self.default
        raise ApiError(
            404,
            f"The {self.kind} '{name}' does not exist. Valid {self.kind}s: {', '.join(self.valid)}",
            code=f"{self.kind}_not_found",
            param=self.kind,
        )


@dataclass(frozen=True)
class Aliases:
    """Every name the server answers to, per endpoint."""

    stt: Names
    chat: Names
    tts: Names
    voices: Names

    @classmethod
    def build(cls, config: Config, tts: TextToSpeech | None) -> Aliases:
        tts_model = config.tts.model or config.tts.provider
        voice_ids: list[str] = []
        for voice in tts.voices() if tts is not None else ():
            voice_ids.extend([voice.id, *(f"{voice.id}:{s}" for s in voice.speakers)])
        default_voice = config.tts.voice
        if default_voice not in voice_ids:
            voice_ids.insert(0, default_voice)
        return cls(
            stt=Names("model", (config.stt.model,), OPENAI_STT_MODELS, config.stt.model),
            chat=Names("model", (config.llm.model,), OPENAI_CHAT_MODELS, config.llm.model),
            tts=Names("model", (tts_model,), OPENAI_TTS_MODELS, tts_model),
            voices=Names("voice", tuple(voice_ids), OPENAI_VOICES, default_voice),
        )

    def models(self) -> list[tuple[str, str | None]]:
        """(name, the local model it stands for, or None for a local one), for /v1/models."""
        listed: dict[str, str | None] = {}
        for names in (self.stt, self.chat, self.tts):
            for name in names.local:
                listed.setdefault(name, None)
            for alias in names.aliases:
                listed.setdefault(alias, names.default)
        return list(listed.items())
