"""Create the stages a command needs, loading their models in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .config import Config
from .models import ModelStore
from .providers import ChatModel, SpeechToText, TextToSpeech
from .providers.registry import create_chat, create_stt, create_tts


@dataclass(frozen=True)
class Engines:
    stt: SpeechToText | None = None
    chat: ChatModel | None = None
    tts: TextToSpeech | None = None


def load_engines(
    config: Config, *, stt: bool = False, chat: bool = False, tts: bool = False
) -> Engines:
    """Load the requested stages side by side; the first failure (a missing model...) is raised."""
    store = ModelStore.open(config.models.dir)
    wanted = {
        name: factory
        for name, factory, needed in (
            ("stt", create_stt, stt),
            ("chat", create_chat, chat),
            ("tts", create_tts, tts),
        )
        if needed
    }
    with ThreadPoolExecutor(max_workers=max(len(wanted), 1)) as pool:
        futures = {name: pool.submit(factory, config, store) for name, factory in wanted.items()}
        return Engines(**{name: future.result() for name, future in futures.items()})
