"""Chat with a GGUF model through llama-cpp-python, using the chat template inside the GGUF."""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..config import Config, threads_for
from ..errors import AssistantError, UsageError
from ..types import ChatMessage
from . import ChatStream, Usage
from .chat_template import check_template
from .context import Drops, fit_messages
from .engine_thread import EngineThread
from .gguf_metadata import chat_templates
from .llama_build import model_params, weight_repacking
from .llama_turn_end import (
    PROBE_WORDS,
    bare_length,
    end_tokens,
    marked_probability,
    split_probability,
)
from .store import ModelStore

GGML_TYPE_Q8_0 = 8  # ggml's type id of 8-bit blocks, for the KV cache
CPU_BATCH = 128  # prompt tokens per batch on a CPU
COUNTED_MESSAGES = 8192  # messages whose token count is remembered (fit_messages' pages)
T = TypeVar("T")

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class LlamaCppChat:
    """Streams chat replies from a loaded `llama_cpp.Llama`; see `load`.

    One reply at a time: llama.cpp's context is not shareable, so a lock serialises calls.
    Consecutive calls share the KV cache for the common prompt prefix (system prompt, history).
    llama.cpp computes on one thread of its own, whichever thread asks (engine_thread.py).
    """

    def __init__(self, llm: Any, formatter: Any, *, max_tokens: int, temperature: float) -> None:
        self._llm = llm
        self._formatter = formatter
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._lock = threading.Lock()
        self._engine = EngineThread("llama.cpp")
        weakref.finalize(self, self._engine.stop)  # a model let go of ends its thread too
        self._drops = Drops()  # where each talk's last fit began, to search from there
        self._end_tokens: Any = None  # the tokens that end a user's message (llama_turn_end.py)
        self._message_tokens = functools.lru_cache(COUNTED_MESSAGES)(
            lambda message: len(self.prompt_tokens([message]))
        )

    @property
    def llama(self) -> Any:
        """The `llama_cpp.Llama` itself (the benchmark times it alone; tests read its cache)."""
        return self._llm

    def on_engine_thread(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the thread llama.cpp computes on (the benchmark times the raw
        engine there, so that its OpenMP team is the same one)."""
        return self._engine.call(function, *args)

    @classmethod
    def load(
        cls,
        model_path: Path,
        *,
        context: int = 2048,
        threads: int = 0,
        gpu_layers: int = 0,
        max_tokens: int = 200,
        temperature: float = 0.6,
        repack: bool | None = None,
    ) -> LlamaCppChat:
        """`repack`: let llama.cpp repack the weights for this CPU's kernels (None: where the
        build is safe with it, see llama_build.py)."""
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # The templates are the model author's code, and llama-cpp-python compiles them all
        # as it opens the file: each is tried in a separate process first.
        for template in chat_templates(model_path).values():
            check_template(template, model_path)
        repack = weight_repacking() if repack is None else repack
        try:
            with model_params(repack=repack):
                llm = Llama(
                    model_path=str(model_path),
                    n_ctx=context,
                    n_threads=threads_for(threads),
                    n_threads_batch=threads_for(threads),
                    n_gpu_layers=gpu_layers,
                    # on a CPU, prompts in batches of 128 tokens are as fast as in 512 with smaller
                    # compute buffers; with flash attention and an 8-bit KV cache that is 183 ->
                    # 123 MB after a 500-token prompt (model included), and decoding is ~8 % faster
                    n_batch=CPU_BATCH if gpu_layers == 0 else 512,
                    n_ubatch=CPU_BATCH if gpu_layers == 0 else 512,
                    flash_attn=True,
                    type_k=GGML_TYPE_Q8_0,
                    type_v=GGML_TYPE_Q8_0,
                    verbose=False,
                )
        except ValueError as error:
            raise AssistantError(f"llama.cpp could not load {model_path}: {error}") from None
        eos = llm.token_eos()
        formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template", CHATML_TEMPLATE),
            eos_token=_token_text(llm, eos),
            bos_token=_token_text(llm, llm.token_bos()),
            stop_token_ids=[eos],
        )
        return cls(llm, formatter, max_tokens=max_tokens, temperature=temperature)

    @property
    def context_size(self) -> int:
        return self._llm.n_ctx()

    @property
    def tokens_in_context(self) -> int:
        """Tokens llama.cpp has evaluated into its context so far (prompt and reply)."""
        return self._llm.n_tokens

    def _count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of `messages`' prompt; one message alone is counted once (fit_messages counts
        every message of a long talk alone at each turn, to find its pages)."""
        if len(messages) == 1:
            return self._message_tokens(messages[0])
        return len(self.prompt_tokens(messages))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The tokens of `messages` rendered by the model's chat template."""
        rendered = self._render(messages)
        return self._tokens(rendered, rendered.prompt)

    def _render(self, messages: Sequence[ChatMessage]) -> Any:
        """`messages` rendered by the model's chat template (its prompt text and how it began)."""
        return self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])

    def _tokens(self, rendered: Any, text: str) -> list[int]:
        """The tokens of `text`, `rendered`'s prompt or its beginning."""
        return self._llm.tokenize(
            text.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )

    def warm_up(self, system_prompt: str | None = None) -> None:
        """Evaluate the system prompt into the KV cache (one token generated), so a turn's prompt
        only adds what follows it."""
        messages = [ChatMessage("user", "Hello.")]
        if system_prompt:
            messages.insert(0, ChatMessage("system", system_prompt))
        tokens = self.prompt_tokens(messages)
        with self._lock:
            self._engine.call(self._evaluate, tokens)

    def read_ahead(self, messages: Sequence[ChatMessage]) -> None:
        """Evaluate into the KV cache the prompt of `messages` up to the last message's words (the
        tokens it shares with any other last message), fitted as a request would be. Nothing
        while a reply's stream is open: it holds the model, and only its own thread may go on."""
        if not messages or not self._lock.acquire(blocking=False):
            return
        try:
            *before, last = self._fitted(messages, self._reply_limit(None))
            one, other = (self.prompt_tokens([*before, replace(last, content=words)])
                          for words in ("A", "B"))  # fmt: skip
            shared = self._llm.longest_token_prefix(one, other)
            if shared:
                self._engine.call(self._evaluate, one[:shared])
        finally:
            self._lock.release()

    def turn_end_probability(self, messages: Sequence[ChatMessage]) -> float | None:
        """Read the prompt that `stream_chat(messages)` reads (which then begins at once) and
        say how likely the last message's words end the user's turn (llama_turn_end.py). None
        when the last message is not the user's or has no words, the template hides them, or a
        reply's stream holds the model (the words are then not worth waiting for)."""
        if not messages or messages[-1].role != "user" or not self._lock.acquire(blocking=False):
            return None
        try:
            fitted = self._fitted(messages, self._reply_limit(None))
            rendered = self._render(fitted)
            tokens = self._tokens(rendered, rendered.prompt)
            mark = self._words_mark(rendered, fitted[-1].content, tokens)
            return None if mark is None else self._engine.call(self._read_words_end, tokens, mark)
        finally:
            self._lock.release()

    def _words_mark(self, rendered: Any, content: str, tokens: list[int]) -> int | None:
        """Where in `tokens` (`rendered`'s prompt, whose last message is `content`) the last
        message's words end, their final punctuation left out: the index of their last token."""
        length = bare_length(content)
        at = rendered.prompt.rfind(content)
        if not length or at < 0:
            return None
        head = self._tokens(rendered, rendered.prompt[: at + length])
        if len(head) >= len(tokens) or tokens[: len(head)] != head:
            return None
        return len(head) - 1

    def _read_words_end(self, tokens: list[int], mark: int) -> float:
        if self._end_tokens is None:
            probe = self.prompt_tokens([ChatMessage("user", PROBE_WORDS)])
            self._end_tokens = end_tokens(self._llm, probe)
        try:
            return marked_probability(self._llm, tokens, mark, self._end_tokens)
        except AttributeError:  # another llama-cpp-python: one more pass of the model
            return split_probability(self._llm, tokens, mark, self._end_tokens)

    def _reply_limit(self, max_tokens: int | None) -> int:
        """The most tokens a reply may write: as asked (or the configured), at most half the
        context."""
        return min(max_tokens or self._max_tokens, self.context_size // 2)

    def _fitted(self, messages: Sequence[ChatMessage], limit: int) -> list[ChatMessage]:
        """`messages` fitted into the context, leaving room for a reply of `limit` tokens."""
        return fit_messages(messages, self._count_tokens, self.context_size - limit, self._drops)

    def _evaluate(self, tokens: list[int]) -> None:
        for _ in self._llm.create_completion(tokens, max_tokens=1, temperature=0.0, stream=True):
            pass

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> ChatStream:
        if not messages:
            raise UsageError("a chat needs at least one message")
        limit = self._reply_limit(max_tokens)
        if limit < 1:
            raise UsageError(f"max_tokens must be at least 1, not {max_tokens}")
        stops = [s for s in stop or () if s]
        return ChatStream(lambda report: self._stream(messages, limit, temperature, stops, report))

    def _stream(
        self,
        messages: Sequence[ChatMessage],
        limit: int,
        temperature: float | None,
        stop: list[str],
        report: Callable[[Usage], None],
    ) -> Iterator[str]:
        with self._lock:
            fitted = self._fitted(messages, limit)
            tokens = self.prompt_tokens(fitted)
            yield from self._engine.iterate(
                lambda: self._decode(tokens, limit, temperature, stop, report)
            )

    def _decode(
        self,
        tokens: list[int],
        limit: int,
        temperature: float | None,
        stop: list[str],
        report: Callable[[Usage], None],
    ) -> Iterator[str]:
        """The reply's text as llama.cpp writes it (run on the engine's thread)."""
        stream = self._llm.create_completion(
            tokens,
            max_tokens=limit,
            temperature=self._temperature if temperature is None else temperature,
            stream=True,
        )
        watch = StopSequences(stop)  # here, not in llama.cpp: so a stop is told from the end
        finish = "stop"
        try:
            for part in stream:
                choice = part["choices"][0]
                finish = choice["finish_reason"] or finish
                if text := watch.feed(choice["text"]):
                    yield text
                if watch.met:
                    break
            if text := watch.flush():
                yield text
            report(self._usage(len(tokens), finish, watch.met))
        finally:
            stream.close()  # stops decoding when the consumer closes us early

    def _usage(self, prompt_tokens: int, finish: str, stopped: bool) -> Usage:
        """Counted from llama.cpp's context: each token sampled is evaluated into it when the
        next one is asked for, so the last one sampled is not there yet, unless the reply ended
        with the end-of-generation token (not part of the reply, as llama.cpp counts it)."""
        ended_by_model = finish == "stop" and not stopped
        written = self.tokens_in_context - prompt_tokens + (0 if ended_by_model else 1)
        return Usage(prompt_tokens, written, finish)


class StopSequences:
    """Ends a streamed reply at the first stop sequence, holding back text that may begin one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = list(stops)
        self._held = ""
        self.met = False

    def feed(self, text: str) -> str:
        """The text that can be let out now."""
        if not self._stops:
            return text
        held = self._held + text
        found = [i for i in (held.find(stop) for stop in self._stops) if i >= 0]
        if found:
            self.met, self._held = True, ""
            return held[: min(found)]
        keep = max(
            (n for stop in self._stops for n in range(1, len(stop)) if held.endswith(stop[:n])),
            default=0,
        )
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.met else held


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    return llm.detokenize([token], special=True).decode("utf-8", errors="ignore")


def create(config: Config, store: ModelStore) -> LlamaCppChat:
    llm = config.llm
    return LlamaCppChat.load(
        store.require(llm.model, "llm") / "model.gguf",
        context=llm.context,
        threads=llm.threads,
        gpu_layers=llm.gpu_layers,
        max_tokens=llm.max_tokens,
        temperature=llm.temperature,
    )
