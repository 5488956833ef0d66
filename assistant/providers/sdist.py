"""Fetching a source distribution (an sdist, `name-version.tar.gz`) as a file, from the package
index pip uses: its simple (PEP 503) page lists the archive's URL with its sha256. pip itself
would build the package to read its metadata (compilers, build dependencies); only files inside
the archive are wanted (recordings in a package's test data), so it is downloaded as it is."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urljoin, urlsplit

from ..errors import DownloadError
from .catalog import WheelMember
from .verify import BLOCK

DEFAULT_INDEX = "https://pypi.org/simple/"
TIMEOUT_S = 30


def index_url() -> str:
    """The index pip is configured to use (PIP_INDEX_URL, then pip's configuration)."""
    configured = os.environ.get("PIP_INDEX_URL", "").split()
    if not configured:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        configured = result.stdout.split() if result.returncode == 0 else []
    return (configured[0] if configured else DEFAULT_INDEX).rstrip("/") + "/"


def sdist_download(member: WheelMember, destination: Path, index: str | None = None) -> Path:
    """Download `member`'s sdist into `destination`, checked against the index's sha256."""
    index = index or index_url()
    project = re.sub(r"[-_.]+", "-", member.package).lower()
    page_url = urljoin(index, f"{project}/")
    wanted = {f"{name}-{member.version}.tar.gz" for name in _file_names(member.package)}
    links = [link for link in _links(page_url) if _file_name(link) in wanted]
    if not links:
        raise DownloadError(
            f"the package index ({index}) has no source archive of {member.package}=="
            f"{member.version}; check pip's index settings, or copy a models/ directory pulled "
            "on another machine"
        )
    url = urljoin(page_url, links[0])
    target = destination / _file_name(url)
    expected = dict(
        part.split("=", 1) for part in urlsplit(url).fragment.split("&") if "=" in part
    ).get("sha256")
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url.split("#")[0], timeout=TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            while block := response.read(BLOCK):
                out.write(block)
                digest.update(block)
    except (URLError, OSError) as error:
        raise DownloadError(f"could not download {target.name}: {error}") from None
    if expected and digest.hexdigest() != expected:
        target.unlink(missing_ok=True)
        raise DownloadError(f"{target.name} does not match the index's sha256; try again")
    return target


def _file_names(package: str) -> set[str]:
    """The names an sdist of `package` may carry (its own spelling, or normalized)."""
    lowered = package.lower()
    return {package, lowered, lowered.replace("-", "_"), re.sub(r"[-_.]+", "_", lowered)}


def _file_name(url: str) -> str:
    return Path(urlsplit(url).path).name


def _links(page_url: str) -> list[str]:
    try:
        with urllib.request.urlopen(page_url, timeout=TIMEOUT_S) as response:
            page = response.read().decode("utf-8", "replace")
    except (URLError, OSError) as error:
        raise DownloadError(f"could not read the package index at {page_url}: {error}") from None
    parser = _Links()
    parser.feed(page)
    return parser.hrefs


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)
