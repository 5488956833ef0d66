"""Fetching a package tarball from the npm registry as a file (a recording in a package's data:
the registries are the one network this project's machines may reach). The registry is npm's
configured one (NPM_CONFIG_REGISTRY, then `npm config get registry`); its metadata gives the
tarball's URL and an integrity hash, checked here (the catalog's sha256 then checks the file)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from urllib.error import URLError
from urllib.parse import quote, urlsplit

from ..errors import DownloadError
from .catalog import WheelMember
from .verify import BLOCK

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
TIMEOUT_S = 30


def registry_url() -> str:
    """The registry npm is configured to use (NPM_CONFIG_REGISTRY, then npm's configuration)."""
    configured = os.environ.get("NPM_CONFIG_REGISTRY", "")
    npm = shutil.which("npm")
    if not configured and npm:
        result = subprocess.run(
            [npm, "config", "get", "registry"], capture_output=True, text=True, check=False
        )
        configured = result.stdout.strip() if result.returncode == 0 else ""
    return (configured or DEFAULT_REGISTRY).rstrip("/") + "/"


def npm_download(member: WheelMember, destination: Path, registry: str | None = None) -> Path:
    """Download `member`'s package tarball into `destination`, checked against the registry's
    integrity hash."""
    registry = registry or registry_url()
    metadata_url = f"{registry}{quote(member.package, safe='@')}/{quote(member.version)}"
    try:
        with urllib.request.urlopen(metadata_url, timeout=TIMEOUT_S) as response:
            dist = json.load(response)["dist"]
    except (URLError, OSError, ValueError, KeyError, TypeError) as error:
        raise DownloadError(
            f"the npm registry ({registry}) has no package {member.package}@{member.version} "
            f"({error}); check npm's registry setting, or copy a models/ directory pulled on "
            "another machine"
        ) from None
    url = dist.get("tarball", "")
    target = destination / Path(urlsplit(url).path).name
    algorithm, _, expected = str(dist.get("integrity", "")).partition("-")
    digest = hashlib.new(algorithm if algorithm in ("sha512", "sha256") else "sha512")
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            while block := response.read(BLOCK):
                out.write(block)
                digest.update(block)
    except (URLError, OSError, ValueError) as error:
        raise DownloadError(f"could not download {target.name or url}: {error}") from None
    if expected and base64.b64encode(digest.digest()).decode() != expected:
        target.unlink(missing_ok=True)
        raise DownloadError(
            f"{target.name} does not match the registry's integrity hash; try again"
        )
    return target
