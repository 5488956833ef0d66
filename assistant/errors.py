"""Errors a user can act on. The CLI prints their message and exits with their code."""

from __future__ import annotations

from collections.abc import Iterable


class AssistantError(Exception):
    """A failure with a message meant for the user, not a traceback."""

    exit_code = 1


class UsageError(AssistantError):
    """The user asked for something that cannot work as asked."""

    exit_code = 2


class ModelMissingError(UsageError):
    """A model the configuration names has not been downloaded."""

    def __init__(self, name: str, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"model '{name}' is not downloaded{suffix}. Run: assistant models pull {name}"
        )
        self.name = name


class UnknownNameError(UsageError):
    """A model, voice or provider name that does not exist; lists the valid ones."""

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        names = sorted(available)
        listed = ", ".join(names) if names else "none"
        super().__init__(f"unknown {kind} '{name}'. Available: {listed}")
        self.available = tuple(names)


class AudioInputError(AssistantError):
    """Audio that cannot be decoded: empty, truncated, not audio, or unsupported."""


class DownloadError(AssistantError):
    """A model file could not be fetched or failed its checksum."""


class ConfigError(UsageError):
    """A configuration file, variable or flag that is not valid."""
