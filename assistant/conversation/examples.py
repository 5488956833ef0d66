"""The example exchange each conversation begins with: asked what only the user could know, the
assistant says it does not know (issue #11: asked for the user's breakfast or mother's name, a
small model made one up; a system-prompt rule alone did not stop it, an example did).

The examples are earlier turns put just after the first system message, the same every turn, so
the prompt still begins the same way and llama.cpp's cached prefix holds. They are not the
user's: the history keeps only what was really said. `conversation.dont_know_examples` turns
them on (off by default: the default tier's 0.5B model then also refuses some ordinary
requests, "Who wrote Romeo and Juliet?"; see README). A model too small to learn from them
copies them instead (SmolLM2-135M, the tiny tier's: no more refusals, English questions
answered with the Chinese example; 15 -> 10 of the 53 quality questions right with an earlier
wording): it gets none.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Config
from ..types import ChatMessage

# English and Chinese (a Chinese question learns its "我不知道" from the Chinese one)
DONT_KNOW_EXAMPLES = (
    ChatMessage("user", "What is my cat's name?"),
    ChatMessage("assistant", "I don't know; you haven't told me."),
    ChatMessage("user", "我的猫叫什么名字？"),
    ChatMessage("assistant", "我不知道，你还没告诉我。"),
)

# language models that copy the examples instead of learning from them (measured: README)
COPIES_EXAMPLES = frozenset({"smollm2-135m-instruct"})


def wants_examples(config: Config) -> bool:
    """The examples for this configuration: asked for, and the model is not one that copies them."""
    return config.conversation.dont_know_examples and config.llm.model not in COPIES_EXAMPLES


def with_examples(
    messages: Sequence[ChatMessage], examples: Sequence[ChatMessage] = DONT_KNOW_EXAMPLES
) -> list[ChatMessage]:
    """`messages` with `examples` just after the first system message (first when none)."""
    told = list(messages)
    at = 1 if told and told[0].role == "system" else 0
    return [*told[:at], *examples, *told[at:]]
