"""Filling the configuration's empty model names from the configured tier and language."""

from __future__ import annotations

from dataclasses import replace

from ..config import Config
from ..errors import UsageError
from .catalog import ModelCatalog, check_tier
from .store import ModelStore


def resolve_models(config: Config, catalog: ModelCatalog | None = None) -> Config:
    """`config` with every empty stt.model, llm.model and tts.voice set to the tier's model.

    English ("" or "en") gets the tier's English models; another language or "auto" gets the
    tier's multilingual speech-to-text, and a voice (and language model) that speaks it when the
    tier has one, else the English ones. Names the user set are kept as they are, and so are
    the empty names of a remote (openai) provider: the endpoint's default model is asked for.
    """
    check_tier(config.models.tier)
    if all((config.stt.model, config.llm.model, config.tts.voice)):
        return config
    catalog = catalog or ModelStore.open(config.models.dir).catalog
    tier, language = config.models.tier, config.stt.language

    def pick(role: str, wanted: str) -> str:
        entry = catalog.choose(role, tier, wanted)
        if entry is None and role != "stt":
            entry = catalog.choose(role, tier, "")
        if entry is None:
            what = f" for language '{wanted}'" if wanted not in ("", "en") else ""
            raise UsageError(
                f"the model tier '{tier}' has no {role} model{what}; "
                f"name one with --set {_SETTING[role]}=NAME (see assistant models list)"
            )
        return entry.name

    def name(given: str, provider: str, role: str) -> str:
        # a remote endpoint's names are its own: empty stays empty (its default is asked for)
        return given or ("" if provider == REMOTE_PROVIDER else pick(role, language))

    return replace(
        config,
        stt=replace(config.stt, model=name(config.stt.model, config.stt.provider, "stt")),
        llm=replace(config.llm, model=name(config.llm.model, config.llm.provider, "llm")),
        tts=replace(config.tts, voice=name(config.tts.voice, config.tts.provider, "tts")),
    )


_SETTING = {"stt": "stt.model", "llm": "llm.model", "tts": "tts.voice"}
REMOTE_PROVIDER = "openai"
