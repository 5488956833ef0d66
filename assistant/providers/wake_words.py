"""The wake words the catalog knows (role "wake": each model file pair <name>.json + .tflite),
whether they are downloaded, and loading one's detector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..audio.wake_word import MicroWakeWordDetector, WakeWordModel
from ..config import Config
from ..errors import ModelMissingError, UnknownNameError
from .store import ModelStore

MANIFEST = ".json"


@dataclass(frozen=True)
class WakeWord:
    name: str  # e.g. hey_jarvis: what --wake-word and conversation.wake_word take
    phrase: str  # what the user says, e.g. "Hey Jarvis"
    model: str  # the catalog entry that holds it
    languages: tuple[str, ...]
    downloaded: bool


def wake_word_name(text: str) -> str:
    """ "Hey Jarvis", "hey-jarvis", "HEY_JARVIS" -> "hey_jarvis"."""
    return "_".join(text.strip().lower().replace("-", " ").replace("_", " ").split())


def wake_words(store: ModelStore) -> list[WakeWord]:
    """Every wake word of the catalog's wake-word models, downloaded or not."""
    found = []
    for entry in store.catalog.by_role("wake"):
        present = store.is_present(entry)
        for model_file in entry.files:
            if not model_file.name.endswith(MANIFEST):
                continue
            name = model_file.name.removesuffix(MANIFEST)
            phrase, languages = name.replace("_", " ").title(), entry.languages
            if present:
                model = WakeWordModel.read(store.path(entry.name) / model_file.name)
                phrase, languages = model.phrase, model.languages or languages
            found.append(WakeWord(name, phrase, entry.name, tuple(languages), present))
    return found


def load_wake_word(store: ModelStore, name: str) -> MicroWakeWordDetector:
    """The detector of wake word `name`; a clear error when it is unknown or not downloaded."""
    wanted = wake_word_name(name)
    known = {word.name: word for word in wake_words(store)}
    word = known.get(wanted)
    if word is None:
        raise UnknownNameError("wake word", name, known)
    if not word.downloaded:
        raise ModelMissingError(word.model, f"it holds the wake word {word.name}")
    entry = store.catalog.get(word.model, "wake")
    for model_file in entry.files:  # a damaged model crashes the TFLite runtime: check it first
        if model_file.name.startswith(f"{word.name}.") and not store.verified(entry, model_file):
            raise ModelMissingError(word.model, f"{model_file.name} fails its sha256 check")
    manifest = store.path(word.model) / f"{word.name}{MANIFEST}"
    return MicroWakeWordDetector.load(WakeWordModel.read(manifest))


def wake_word_factory(config: Config) -> Callable[[], MicroWakeWordDetector] | None:
    """None when conversation.wake_word is empty; else a maker of fresh detectors (one per
    conversation), checked now: an unknown or missing wake word fails before anything loads."""
    name = config.conversation.wake_word
    if not name.strip():
        return None
    store = ModelStore.open(config.models.dir)
    load_wake_word(store, name)
    return lambda: load_wake_word(store, name)
