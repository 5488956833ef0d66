"""A GGUF's chat template is code from the model's author: it is tried before it is trusted.

llama-cpp-python renders templates in Jinja's immutable sandbox, which stops a template from
reaching Python's internals, but not from looping for ever (nested `range` loops) or from
building a string of gigabytes. So, when a model is loaded, its template first renders a short
conversation in a separate process with a time and a memory limit; a template that escapes,
hangs, blows up or fails is refused with a clear message. The verdict is remembered by the
template's sha256 (verify.py's stamps), so a known template costs nothing at the next start.
A turn whose rendering still hangs is contained by the stage watchdog (conversation.*_timeout_s).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from ..errors import AssistantError
from .verify import remember, remembered

PROBE_TIMEOUT_S = 10.0  # a real template renders three messages in milliseconds
PROBE_MEMORY = 2 << 30  # bytes of address space for the probing process
SAMPLE = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello, who are you?"},
    {"role": "assistant", "content": "I am your assistant."},
    {"role": "user", "content": "What time is it?"},
]
_PROBE = """
import json, resource, sys
from jinja2.exceptions import SecurityError
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
job = json.load(sys.stdin)
try:
    formatter = Jinja2ChatFormatter(template=job["template"], eos_token="</s>", bos_token="<s>")
    formatter(messages=job["messages"])
except SecurityError as error:
    print("escape: " + str(error)[:300])
except MemoryError:
    print("memory")
except Exception as error:
    print("error: " + (type(error).__name__ + ": " + str(error))[:300])
else:
    print("ok")
"""


class ChatTemplateRefused(AssistantError):
    """A model whose chat template escapes the sandbox, never ends, or cannot render."""


def check_template(template: str, model_path: Path) -> None:
    """Raise ChatTemplateRefused unless `template` renders a short conversation in time."""
    key = "chat-template:" + hashlib.sha256(template.encode("utf-8", "replace")).hexdigest()
    if remembered(key) == "ok":
        return
    verdict = _probe(template)
    if verdict != "ok":
        raise ChatTemplateRefused(f"the chat template inside {model_path} {verdict}; the model is "
                                  "refused (use another GGUF file of this model)")  # fmt: skip
    remember(key, "ok")


def _probe(template: str) -> str:
    """'ok', or what went wrong, as the end of a sentence."""
    job = json.dumps({"template": template, "messages": SAMPLE})
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE.replace("MEMORY", str(PROBE_MEMORY))],
            input=job, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"did not finish rendering a four-message chat in {PROBE_TIMEOUT_S:g} s (a loop?)"
    outcome = result.stdout.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
    kind, _, detail = outcome[0].partition(": ")
    return {
        "ok": "ok",
        "escape": f"tried to reach outside Jinja's sandbox ({detail})",
        "memory": f"needed more than {PROBE_MEMORY >> 30} GB to render a four-message chat",
        "error": f"cannot render a four-message chat ({detail})",
    }.get(kind, f"crashed the process rendering it ({outcome[0]})")
