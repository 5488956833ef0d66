"""Create the stages a command needs, loading their models in parallel."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..errors import UsageError
from ..memory import release_freed
from . import ChatModel, SpeechToText, TextToSpeech
from .registry import create_chat, create_stt, create_tts
from .store import ModelStore

TURN_MODEL_FILE = "model.onnx"  # in the end-of-turn model's directory (models/catalog.toml)
# Packages that several loaders import parts of (Whisper; the VAD's and the end-of-turn model's
# helpers), imported whole before the loaders run side by side: threads importing a package and
# one of its modules at once can deadlock in Python's import locks (a _DeadlockError, seen in CI)
SHARED_IMPORTS = ("faster_whisper",)
# the system prompt the warm-up caches: as is, or made from the loaded voice stage (its persona)
SystemPrompt = str | Callable[[TextToSpeech | None], str] | None


def import_shared() -> None:
    """Import SHARED_IMPORTS on this thread, before any loader thread starts."""
    for name in SHARED_IMPORTS:
        importlib.import_module(name)


@dataclass(frozen=True)
class Engines:
    stt: SpeechToText | None = None
    chat: ChatModel | None = None
    tts: TextToSpeech | None = None
    turn: Any = None  # the end-of-turn model (audio.smart_turn.SmartTurn), for conversations


def load_engines(
    config: Config,
    *,
    stt: bool = False,
    chat: bool = False,
    tts: bool = False,
    turn: bool = False,
) -> Engines:
    """Load the requested stages side by side; the first failure (a missing model...) is raised."""
    store = ModelStore.open(config.models.dir, verify=config.models.verify)
    if stt or turn:
        import_shared()
    wanted = {
        name: factory
        for name, factory, needed in (
            ("stt", create_stt, stt),
            ("chat", create_chat, chat),
            ("tts", create_tts, tts),
            ("turn", load_turn_model, turn),
        )
        if needed
    }
    with ThreadPoolExecutor(max_workers=max(len(wanted), 1)) as pool:
        futures = {name: pool.submit(factory, config, store) for name, factory in wanted.items()}
        return Engines(**{name: future.result() for name, future in futures.items()})


def warm_up(engines: Engines, system_prompt: SystemPrompt = None) -> None:
    """Run each loaded stage once on a tiny input, so the first real turn pays no first-call
    costs (buffer allocation, the system prompt's evaluation into the language model's cache;
    a callable gives the prompt from the loaded voice stage, e.g. with its voice's persona).
    The heap's freed memory goes back to the system before each warm-up and at the end (~50 MB
    at ready, tiny tier), so that no stage's working memory comes on top of what loading or the
    stage before left. Stages without a `warm_up` method (remote endpoints) are left alone."""
    if callable(system_prompt):
        system_prompt = system_prompt(engines.tts)
    for stage, arguments in (
        (engines.stt, ()),
        (engines.chat, (system_prompt,) if system_prompt else ()),
        (engines.tts, ()),
        (engines.turn, ()),
    ):
        method = getattr(stage, "warm_up", None)
        if method is not None:
            release_freed()
            method(*arguments)
    release_freed()


def load_conversation_engines(config: Config, system_prompt: SystemPrompt) -> tuple[Engines, Any]:
    """What a spoken conversation needs, ready to listen: the three stages, the end-of-turn model
    (with conversation.turn_detection = "smart") and the Silero VAD, loaded side by side, then
    warmed."""
    from ..audio.vad import SileroVAD

    import_shared()
    with ThreadPoolExecutor(max_workers=1) as pool:
        vad = pool.submit(SileroVAD.load)
        engines = load_engines(config, stt=True, chat=True, tts=True, turn=True)
        vad_model = vad.result()
    warm_up(engines, system_prompt)
    return engines, vad_model


def load_turn_model(config: Config, store: ModelStore) -> Any:
    """The tier's end-of-turn model when conversation.turn_detection is "smart", else None."""
    if config.conversation.turn_detection != "smart":
        return None
    from ..audio.smart_turn import SmartTurn

    entry = store.catalog.choose("turn", config.models.tier)
    if entry is None:
        raise UsageError(
            f"the model tier '{config.models.tier}' has no end-of-turn model; "
            "use --set conversation.turn_detection=silence"
        )
    return SmartTurn.load(store.require(entry.name, "turn") / TURN_MODEL_FILE)
