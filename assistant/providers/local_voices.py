"""The "local" text-to-speech provider: every installed voice of every local engine (Piper and
Kokoro) behind one TextToSpeech, each request routed to the engine that has the voice."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..config import Config, language_code, voice_map
from ..errors import ModelMissingError, UnknownNameError, UsageError
from ..types import AudioChunk, Voice
from . import TextToSpeech, warm_up_text
from .kokoro import DEFAULT_VOICE as DEFAULT_KOKORO_VOICE
from .kokoro import ID_PREFIX as KOKORO_PREFIX
from .kokoro import KokoroTTS, is_kokoro, kokoro_models
from .piper import create_engine as create_piper
from .store import ModelStore


class VoiceRouter:
    """Speaks with any voice of `engines`; `default_voice` when a request names none."""

    def __init__(
        self, engines: Sequence[Any], default_voice: str, aliases: dict[str, str] | None = None
    ) -> None:
        self._engines = list(engines)
        self._aliases = aliases or {}  # other names of voices: a Kokoro model's catalog name
        self._owner: dict[str, Any] = {}
        for engine in self._engines:
            for voice in engine.voices():
                self._owner.setdefault(voice.id, engine)
        self._default = self._aliases.get(default_voice, default_voice)
        self.warm_languages: tuple[tuple[str, str], ...] = ()  # (language, voice) to warm too
        self.engine_of(self._default)  # a clear error now when the default voice is unknown

    @property
    def default_voice(self) -> str:
        """The voice spoken when a request names none."""
        return self._default

    def voices(self) -> list[Voice]:
        return [voice for engine in self._engines for voice in engine.voices()]

    def engine_of(self, voice: str) -> Any:
        """The engine that has `voice` (a voice id, or `id:speaker`)."""
        engine = self._owner.get(voice.partition(":")[0])
        if engine is None:
            raise UnknownNameError("voice", voice, self._voice_ids())
        return engine

    def _voice_ids(self) -> list[str]:
        ids = []
        for voice in self.voices():
            ids.extend([f"{voice.id}:{s}" for s in voice.speakers] or [voice.id])
        return ids

    def load(self, voice: str | None = None) -> None:
        """Load the engine (and the voice) that speaks `voice`, default: the default voice."""
        name = voice or self._default
        engine = self.engine_of(name)
        if isinstance(engine, KokoroTTS):
            engine.load()
        else:
            engine.load_voice(engine.resolve(name)[0])

    def warm_up(self) -> None:
        """Speak a few words with the default voice and the voice of each language in
        `warm_languages`, so the first reply pays no first-run costs."""
        for language, voice in (("en", self._default), *self.warm_languages):
            text = warm_up_text(language)
            for _ in self.synthesize(text, voice=voice):
                pass

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        speed: float = 1.0,
        instructions: str | None = None,
    ) -> Iterator[AudioChunk]:
        name = self._aliases.get(voice, voice) if voice else self._default
        engine = self.engine_of(name)
        return engine.synthesize(text, voice=name, speed=speed, instructions=instructions)


def _engines(
    store: ModelStore, default_voice: str, threads: int = 0, release_memory: bool = True
) -> list[TextToSpeech]:
    engines: list[Any] = []
    piper = create_piper(store, default_voice, threads, release_memory)
    if piper is not None:
        engines.append(piper)
    for files in kokoro_models(store).values():
        engines.append(
            KokoroTTS(
                files, default_voice=default_voice, threads=threads, release_memory=release_memory
            )
        )
    return engines


def _voice_of_model(store: ModelStore, config: Config, name: str) -> str:
    """A Kokoro model's catalog name (a tier names models, not voices) -> its voice for the
    configured language; any other name as it is."""
    if name not in _kokoro_models(store):
        return name
    language = language_code(config.stt.language) or "en"
    mapped = dict(voice_map(config.tts.voices_by_language)).get(language)
    return mapped if mapped and mapped.startswith(KOKORO_PREFIX) else DEFAULT_KOKORO_VOICE


def _kokoro_models(store: ModelStore) -> list[str]:
    """The catalog names of the Kokoro models (downloaded or not)."""
    entries = store.catalog.by_role("tts")
    return [e.name for e in entries if is_kokoro({f.name for f in e.files})]


def _missing(store: ModelStore, voice: str) -> Exception:
    """The error for a default voice that is not installed: which model to pull."""
    name = voice.partition(":")[0]
    entries = store.catalog.by_role("tts")
    if any(entry.name == name for entry in entries):
        return ModelMissingError(name, f"the voice is not downloaded into {store.path(name)}")
    if name.startswith(KOKORO_PREFIX) and (kokoro := _kokoro_models(store)):
        return ModelMissingError(kokoro[0], f"the voice {name} is one of its voice packs")
    return UnknownNameError("voice", voice, [e.name for e in entries])


def installed_voices(config: Config) -> list[Voice]:
    """Every downloaded voice of the local engines, without loading any model."""
    store = ModelStore.open(config.models.dir)
    return [voice for engine in _engines(store, "") for voice in engine.voices()]


def create(config: Config, store: ModelStore) -> VoiceRouter:
    for entry in store.catalog.by_role("tts"):  # any installed voice may be asked for
        if store.is_present(entry):
            store.check(entry)
    tts = config.tts
    engines = _engines(store, tts.voice, tts.threads, tts.release_memory)
    voices = [voice.id for engine in engines for voice in engine.voices()]
    if not voices:
        raise UsageError("no voice is downloaded: run `assistant models pull`")
    default = _voice_of_model(store, config, config.tts.voice) or voices[0]
    if default.partition(":")[0] not in voices:
        raise _missing(store, default)
    aliases = {name: _voice_of_model(store, config, name) for name in _kokoro_models(store)}
    router = VoiceRouter(engines, default, aliases)
    router.warm_languages = _warm_languages(config, router)
    router.load()
    return router


def _warm_languages(config: Config, router: VoiceRouter) -> tuple[tuple[str, str], ...]:
    """The (language, voice) pairs a conversation in stt.language will speak besides the default
    voice: the configured voice of that language, or of every configured language for "auto"."""
    language = config.stt.language.lower()
    if language in ("", "en"):
        return ()
    installed = {voice.id: voice for voice in router.voices()}
    pairs = [
        (code, voice)
        for code, voice in voice_map(config.tts.voices_by_language)
        if voice.partition(":")[0] in installed and (language == "auto" or code == language)
    ]
    if not pairs and language != "auto":
        pairs = [(language, v.id) for v in installed.values() if v.speaks(language)][:1]
    return tuple(pairs)
