"""What the installed llama.cpp build may safely be asked to do on this machine.

llama.cpp built for a CPU with Intel AMX (Sapphire Rapids and later: `AMX_INT8 = 1` in its system
information) repacks the weights into an AMX buffer as a model loads, and its AMX matrix product
crashes the process (SIGSEGV in `ggml_backend_amx_mul_mat`) on the first prompt on some of these
machines, with every quantisation our tiers use (llama.cpp issue 20824, closed without a fix).
Where the build has AMX, models load without the extra buffer types (`use_extra_bufts`, llama.cpp's
`--no-repack`): the weights stay as they are in the file and the plain AVX-512 kernels compute.
`scripts/setup.sh` builds llama-cpp-python without AMX, so this is for builds made elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

AMX_FEATURE = "AMX_INT8 = 1"  # how llama.cpp's system information names a build with AMX
_patching = threading.Lock()


def system_info() -> str:
    """llama.cpp's system information: the CPU features this build uses."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace")


def repacks_safely(info: str) -> bool:
    """Whether a build with this system information may repack weights (no AMX in it)."""
    return AMX_FEATURE not in info


@functools.cache
def weight_repacking() -> bool:
    """Whether models load with weight repacking on this machine (once per process)."""
    safe = repacks_safely(system_info())
    if not safe:
        log.info("this llama.cpp build has AMX, which crashes here: weights are not repacked")
    return safe


@contextlib.contextmanager
def model_params(*, repack: bool) -> Iterator[None]:
    """Within: a `llama_cpp.Llama` made here loads its model with weight repacking on or off.
    llama-cpp-python takes no such argument; its Llama starts from the library's default model
    parameters, so these are changed for the construction (one at a time)."""
    import llama_cpp.llama as llama_module

    if repack:
        yield
        return
    bindings = llama_module.llama_cpp
    defaults = bindings.llama_model_default_params

    def without_repacking():
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _patching:
        bindings.llama_model_default_params = without_repacking
        try:
            yield
        finally:
            bindings.llama_model_default_params = defaults
