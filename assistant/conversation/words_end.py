"""A reply begun at a pause, its turn not yet known to be over: how likely its language model reads
the words heard to end the turn (providers.ReadsTurnEnds), read in the pass that reads the
reply's prompt, so that the end of turn can weigh it (end_of_turn.TurnJudge)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..providers import ChatModel, ReadsTurnEnds
from ..types import ChatMessage
from .watchdog import Workers

log = logging.getLogger(__name__)


class WordsEnd:
    """The reading for one reply: `probability` once `read` (None: not read, or cannot be)."""

    def __init__(self, chat: ChatModel, wanted: bool) -> None:
        self._chat = chat if wanted and isinstance(chat, ReadsTurnEnds) else None
        self.probability: float | None = None
        self.read = self._chat is None  # nothing to wait for where nothing is read

    async def read_with(
        self, workers: Workers, messages: Sequence[ChatMessage], wanted: Callable[[], bool]
    ) -> None:
        """Read `messages`' last words on the model's worker, if still `wanted()`. A reading that
        fails is done without (the reply's own request then meets what is wrong, if anything)."""
        try:
            if self._chat is not None and wanted():
                read = self._chat.turn_end_probability
                self.probability = await workers.run("llm", read, messages)
        except Exception as error:  # advisory: the end of turn goes on without it
            log.warning("the model could not read how the words end: %s", error)
        finally:
            self.read = True

    def skip(self) -> None:
        """No model reads these words (a command answered without it)."""
        self.read = True
