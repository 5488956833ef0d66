"""The conversation engine's options from the configuration (for talk, the browser, bench)."""

from __future__ import annotations

from .config import Config
from .conversation import ConversationOptions
from .endpointing import EndpointSettings


def conversation_options(config: Config, **overrides) -> ConversationOptions:
    """The conversation's settings from the config, with per-run overrides (None: keep)."""
    settings = config.conversation
    barge_in = overrides.get("barge_in")
    prompt = overrides.get("system_prompt") or config.llm.system_prompt
    return ConversationOptions(
        system_prompt=f"{prompt} {settings.persona}".strip(),
        voice=overrides.get("voice") or config.tts.voice,
        speed=overrides.get("speed") or config.tts.speed,
        barge_in=settings.barge_in if barge_in is None else barge_in == "on",
        barge_in_ms=settings.barge_in_ms,
        barge_in_hold_ms=settings.barge_in_hold_ms,
        endpointing=EndpointSettings(
            threshold=settings.vad_threshold,
            min_speech_ms=settings.min_speech_ms,
            silence_ms=settings.silence_ms,
            pause_ms=settings.speculate_ms,
        ),
    )
