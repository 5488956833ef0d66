"""llama.cpp's weight repacking and Intel AMX (providers/llama_build.py, scripts/setup.sh): a build
with AMX crashes on the first prompt on some AMX machines, so setup builds without it and a build
made elsewhere with it loads models without repacking. Real builds and the real smallest model."""

from __future__ import annotations

import llama_cpp

from assistant.providers.llama_build import (
    AMX_FEATURE,
    repacks_safely,
    system_info,
    weight_repacking,
)
from assistant.providers.llama_cpp import LlamaCppChat
from assistant.types import ChatMessage

WITH_AMX = (
    "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)  # as llama.cpp 0.3.36 printed it on a Sapphire Rapids machine
WITHOUT_AMX = WITH_AMX.replace("AMX_INT8 = 1 | ", "")


def test_a_build_with_amx_is_not_trusted_to_repack():
    assert not repacks_safely(WITH_AMX)
    assert repacks_safely(WITHOUT_AMX)
    assert AMX_FEATURE not in WITHOUT_AMX


def test_setup_built_llama_cpp_without_amx():
    """scripts/setup.sh leaves AMX out (on a machine with AMX, CFLAGS -mno-amx-*; a cached wheel
    with it is rebuilt): models repack their weights for the CPU's other kernels."""
    info = system_info()
    assert "AVX" in info or "NEON" in info, info  # the real system information
    assert AMX_FEATURE not in info
    assert weight_repacking()


def test_a_model_loads_and_answers_without_repacking(config, store):
    path = store.require(config.llm.model, "llm") / "model.gguf"
    plain = LlamaCppChat.load(path, context=512, max_tokens=8, temperature=0.0, repack=False)
    assert plain.llama.model_params.use_extra_bufts is False
    # the library's defaults are as they were, for any other Llama made after
    assert llama_cpp.llama_model_default_params().use_extra_bufts is True
    question = [ChatMessage("user", "What colour is the sky?")]
    answer = "".join(plain.stream_chat(question)).strip()
    assert answer

    chosen = LlamaCppChat.load(path, context=512, max_tokens=8, temperature=0.0)
    assert chosen.llama.model_params.use_extra_bufts is weight_repacking()
    assert "".join(chosen.stream_chat(question)).strip() == answer  # greedy: the same words
