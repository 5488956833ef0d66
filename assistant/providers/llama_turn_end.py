"""The end of a user's turn as the language model reads the words: after the words heard so far
(their final punctuation taken off, since Whisper puts a period or "?" after nearly anything),
how likely the model expects the message to end there: the end of the message or a mark that
ends a sentence next. "I'd like to" -> ~0.000, "What time is it in Tokyo" -> ~0.7 (the turn
detector of LiveKit's agents works so, with a model tuned for it; here the reply's own model,
as it is).

It is read in the pass that reads the reply's prompt anyway: llama.cpp is asked for one more row
of logits (the words' last token's) in the same batch, so it costs no pass of the model. That
needs llama-cpp-python's batch, which its `Llama.eval` does not expose; where the installed
version differs, the words are read in a pass of their own (`split_probability`) instead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

# what may follow the last word of a finished sentence (each counted where it is one token)
SENTENCE_ENDS = (
    ".", "?", "!", "...", "..", "?!", "!!", "??", '."', '?"', ".\n", "?\n", "!\n", ".\n\n",
    "?\n\n", "!\n\n", "。", "？", "！", "。\n", "？\n", "！\n", "……",
)  # fmt: skip
_TRAILING = re.compile(r"[\s.,;:!?…\-–—。，、；：！？]+$")


def bare_length(words: str) -> int:
    """Length of `words` without the punctuation (and spaces) at their end."""
    return len(_TRAILING.sub("", words))


PROBE_WORDS = "Hi"  # a user message whose prompt shows what the template puts after its words


def end_tokens(llm: Any, probe: Sequence[int]) -> np.ndarray:
    """Token ids that end the user's message: the model's end of generation, the token the chat
    template puts after a message's words (found in `probe`, the prompt of a user message of
    PROBE_WORDS: <|im_end|>, <|eot_id|>...), and the marks that end a sentence, each that is one
    token of this model's vocabulary."""
    ids = {llm.token_eos()}
    words = llm.tokenize(PROBE_WORDS.encode("utf-8"), add_bos=False, special=False)
    at = [i for i in range(len(probe)) if list(probe[i : i + len(words)]) == words]
    if at and at[-1] + len(words) < len(probe):
        ids.add(probe[at[-1] + len(words)])
    for mark in SENTENCE_ENDS:
        tokens = llm.tokenize(mark.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) == 1:
            ids.add(tokens[0])
    return np.array(sorted(ids), dtype=np.int64)


def probability_of(logits: Any, n_vocab: int, ends: np.ndarray) -> float:
    """The softmax mass of `ends` in a row of llama.cpp's logits (a float pointer)."""
    row = np.ctypeslib.as_array(logits, shape=(n_vocab,)).astype(np.float64)
    row = np.exp(row - row.max())
    return float(row[ends].sum() / row.sum())


def marked_probability(llm: Any, tokens: Sequence[int], mark: int, ends: np.ndarray) -> float:
    """Evaluate `tokens` into `llm`'s context as `Llama.eval` would (what is cached already is
    kept, up to `mark`), keeping the logits after `tokens[mark]` too: the probability of `ends`
    there. The whole prompt is then cached with its last logits, so `create_completion` on the
    same tokens samples at once. Raises AttributeError where llama-cpp-python's internals
    differ from those this was written for (0.3.x)."""
    cached = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
    start = min(cached, mark)
    context, batch = llm._ctx, llm._batch
    llm.n_tokens = start
    context.kv_cache_seq_rm(-1, start, -1)
    probability = None
    for first in range(start, len(tokens), llm.n_batch):
        part = list(tokens[first : first + llm.n_batch])
        batch.set_batch(batch=part, n_past=first, logits_all=False)
        marked = first <= mark < first + len(part)
        if marked:
            batch.batch.logits[mark - first] = True
        context.decode(batch)
        if marked:
            probability = probability_of(context.get_logits_ith(mark - first), llm.n_vocab(), ends)
        llm.input_ids[first : first + len(part)] = part
        llm.n_tokens = first + len(part)
    llm._requires_eval = False  # as Llama.eval leaves it: the last logits are live
    assert probability is not None
    return probability


def split_probability(llm: Any, tokens: Sequence[int], mark: int, ends: np.ndarray) -> float:
    """The same through llama-cpp-python's public calls: the words in a pass of their own, then
    the rest of the prompt (one more pass of the model, ~40 ms for 0.5B on 2 cores)."""
    import llama_cpp

    cached = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
    llm.n_tokens = min(cached, mark)
    llm.eval(tokens[llm.n_tokens : mark + 1])
    probability = probability_of(llama_cpp.llama_get_logits_ith(llm.ctx, -1), llm.n_vocab(), ends)
    llm.eval(tokens[mark + 1 :])
    return probability
