"""Model files checked against their pinned sha256 when they are loaded, not only when they are
downloaded: a file changed on disk since (by hand, by a disk error, by someone else) is refused.

Hashing a 500 MB model at every start would cost seconds, so a verdict is remembered in a small
stamp file under $XDG_CACHE_HOME/assistant, keyed by the file's real path, size and mtime: the
file is hashed again only once it has changed. `models.verify = false` turns the check off for
model files the user has edited on purpose.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ..errors import AssistantError

BLOCK = 1 << 20  # bytes read at a time when copying, hashing or downloading a file

STAMP_FILE = "verified.json"
_lock = threading.Lock()  # stages load side by side, each may verify and write the stamps


class ModelFileChanged(AssistantError):
    """A model file whose bytes are not the ones its catalog entry pins."""


def stamp_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assistant" / STAMP_FILE


def check_file(path: Path, sha256: str, digest_of, *, model: str) -> None:
    """Raise ModelFileChanged unless `path` has `sha256` ("" = not pinned: nothing to check).
    `digest_of(path)` hashes the file; it runs only when no stamp vouches for this version."""
    if not sha256:
        return
    real = path.resolve()
    info = real.stat()
    key = f"{real}:{info.st_size}:{info.st_mtime_ns}"
    if remembered(key) == sha256:
        return
    actual = digest_of(real)
    if actual != sha256:
        raise ModelFileChanged(
            f"model file {path} does not match the catalog: sha256 {actual}, expected "
            f"{sha256}. It was changed or damaged since it was fetched; run "
            f"`assistant models pull {model}` to fetch it again, or, for a file you changed on "
            "purpose, set models.verify = false"
        )
    remember(key, sha256, replaces=str(real))


def remembered(key: str) -> str | None:
    """The verdict stamped for `key`, if any."""
    return _stamps().get(key)


def _stamps() -> dict[str, str]:
    try:
        stamps = json.loads(stamp_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def remember(key: str, verdict: str, *, replaces: str = "") -> None:
    """Stamp a verdict (and forget those for keys beginning `replaces:`, older versions of the
    same file); a stamp file that cannot be written only costs a check next time."""
    path = stamp_path()
    with _lock:
        stamps = _stamps()
        if replaces:
            stamps = {k: v for k, v in stamps.items() if not k.startswith(replaces + ":")}
        stamps[key] = verdict
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(stamps, indent=1), encoding="utf-8")
            os.replace(temporary, path)
        except OSError:
            pass
