"""Model catalog and download: real pip fetching real wheels from a local --find-links folder."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Config, LlmConfig, ModelsConfig, SttConfig, load_config
from assistant.errors import (
    ConfigError,
    DownloadError,
    ModelMissingError,
    UnknownNameError,
    UsageError,
)
from assistant.providers.catalog import Archive
from assistant.providers.store import (
    ModelCatalog,
    ModelEntry,
    ModelFile,
    ModelStore,
    WheelMember,
    load_catalog,
    pull,
    sha256_of,
)
from assistant.providers.tiers import resolve_models

REPO = Path(__file__).resolve().parent.parent
PART_A = b"first half of the weights " * 5000
PART_B = b"second half of the weights " * 5000
CONFIG = b'{"layers": 2}'


def make_wheel(directory: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel, as the model packages on PyPI are."""
    module = package.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(f"{module}/{name}", data)
        wheel.writestr(
            f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{dist_info}/RECORD", "")
    return path


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    """A local package index: pip may look nowhere else."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(
        wheels,
        "tiny-model-one",
        "1.0.0",
        {"data/weights.part1": PART_A, "data/config.json": CONFIG},
    )
    make_wheel(wheels, "tiny-model-two", "1.0.0", {"data/weights.part2": PART_B})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    return wheels


def entry(weights_sha: str | None = None) -> ModelEntry:
    one, two = (
        "tiny-model-one==1.0.0:tiny_model_one/data/",
        "tiny-model-two==1.0.0:tiny_model_two/data/",
    )
    weights = PART_A + PART_B
    return ModelEntry(
        name="tiny",
        role="stt",
        tiers=("default",),
        description="test model",
        license="MIT",
        huggingface="",
        files=(
            ModelFile(
                "weights.bin",
                len(weights),
                weights_sha or hashlib.sha256(weights).hexdigest(),
                (
                    WheelMember.parse(one + "weights.part1"),
                    WheelMember.parse(two + "weights.part2"),
                ),
            ),
            ModelFile(
                "config.json",
                len(CONFIG),
                hashlib.sha256(CONFIG).hexdigest(),
                (WheelMember.parse(one + "config.json"),),
            ),
        ),
    )


def store_with(tmp_path: Path, model: ModelEntry) -> ModelStore:
    return ModelStore(tmp_path / "models", ModelCatalog((model,)))


def test_pull_joins_parts_verifies_and_places_files(index, tmp_path):
    store = store_with(tmp_path, entry())
    lines: list[str] = []
    progress: dict[str, list[tuple[int, int]]] = {}
    fetched = pull(
        store,
        report=lines.append,
        progress=lambda n, d, t: progress.setdefault(n, []).append((d, t)),
    )
    assert fetched == ["tiny"]
    assert (store.path("tiny") / "weights.bin").read_bytes() == PART_A + PART_B
    for model_file in store.catalog.models[
        0
    ].files:  # progress climbs to the whole size of each file
        steps = progress[model_file.name]
        assert steps[-1] == (model_file.size, model_file.size)
        assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    assert (store.path("tiny") / "config.json").read_bytes() == CONFIG
    assert store.require("tiny", "stt") == store.path("tiny")
    assert any("sha256 verified" in line for line in lines)
    assert not list(store.path("tiny").glob(".*"))  # no temp files left behind


def test_second_pull_does_nothing_and_says_so(index, tmp_path):
    store = store_with(tmp_path, entry())
    pull(store)
    before = (store.path("tiny") / "weights.bin").stat().st_mtime_ns
    lines: list[str] = []
    assert pull(store, report=lines.append) == []
    assert any("already present" in line for line in lines)
    assert not any("downloading" in line for line in lines)
    assert (store.path("tiny") / "weights.bin").stat().st_mtime_ns == before


def test_checksum_mismatch_removes_the_file_and_fails(index, tmp_path):
    store = store_with(tmp_path, entry(weights_sha="0" * 64))
    with pytest.raises(DownloadError, match=r"checksum mismatch .*weights\.bin.*removed"):
        pull(store)
    directory = store.path("tiny")
    assert not (directory / "weights.bin").exists()
    assert not [p for p in directory.iterdir() if p.name != "config.json"]
    with pytest.raises(ModelMissingError, match="assistant models pull tiny"):
        store.require("tiny", "stt")


def test_a_corrupted_file_is_fetched_again(index, tmp_path):
    store = store_with(tmp_path, entry())
    pull(store)
    weights = store.path("tiny") / "weights.bin"
    weights.write_bytes(b"x" * weights.stat().st_size)  # right size, wrong content
    assert pull(store) == ["tiny"]
    assert weights.read_bytes() == PART_A + PART_B


def test_offline_fails_with_a_clear_message(tmp_path, monkeypatch):
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    store = store_with(tmp_path, entry())
    with pytest.raises(DownloadError, match=r"could not download tiny-model-one==1\.0\.0.*network"):
        pull(store)
    assert not store.path("tiny").exists() or not any(store.path("tiny").iterdir())


def test_a_member_missing_from_the_wheel_is_reported(index, tmp_path):
    broken = entry()
    bad_source = (WheelMember("tiny-model-one", "1.0.0", "tiny_model_one/data/absent.bin"),)
    broken = ModelEntry(
        **{**broken.__dict__, "files": (ModelFile("x.bin", 1, "0" * 64, bad_source),)}
    )
    with pytest.raises(DownloadError, match=r"has no file tiny_model_one/data/absent\.bin"):
        pull(store_with(tmp_path, broken))


def test_unknown_model_name_lists_the_catalog(tmp_path):
    store = store_with(tmp_path, entry())
    with pytest.raises(UnknownNameError, match=r"unknown model 'nope'\. Available: tiny"):
        pull(store, ["nope"])


def test_missing_model_names_the_pull_command(tmp_path):
    store = store_with(tmp_path, entry())
    with pytest.raises(ModelMissingError, match="Run: assistant models pull tiny") as error:
        store.require("tiny", "stt")
    assert error.value.exit_code == 2


def test_the_real_catalog_pins_every_tier_model():
    catalog = load_catalog()
    english = {
        t: {e.role: e.name for e in catalog.tier_set(t)} for t in ("tiny", "default", "large")
    }
    assert english["tiny"] == {
        "stt": "whisper-tiny.en",
        "llm": "smollm2-135m-instruct",
        "tts": "en_US-joe-medium",
        "turn": "smart-turn-v3.2",
    }
    assert english["default"]["llm"] == "qwen2.5-coder-0.5b-instruct"
    assert english["large"]["llm"] == "qwen2.5-coder-1.5b-instruct"
    for model in catalog.models:
        assert model.license and model.languages and model.speed and model.provenance
        for model_file in model.files:
            assert model_file.size > 0 and (model_file.sources or model_file.hub)
            if model_file.sources:  # everything from PyPI is pinned
                assert len(model_file.sha256) == 64
    [base] = [e for e in catalog.models if e.name == "whisper-base"]
    assert len(base.files[0].sources) == 2  # model.bin joined from two wheels
    qwen = catalog.get("qwen2.5-coder-0.5b-instruct")
    assert len(qwen.files[0].sources) == 6 and "no licence file" in qwen.provenance
    assert len(catalog.get("qwen2.5-coder-1.5b-instruct").files[0].sources) == 22


def test_a_language_adds_what_it_needs_to_the_tier():
    catalog = load_catalog()
    chinese = {e.name for e in catalog.tier_set("default", "zh")}
    assert {"whisper-base", "whisper-tiny.en", "qwen2.5-coder-0.5b-instruct"} <= chinese
    assert any(catalog.get(n).role == "tts" and "zh" in catalog.get(n).languages for n in chinese)
    assert catalog.choose("stt", "tiny", "auto").name == "whisper-base"
    assert catalog.choose("stt", "tiny", "").name == "whisper-tiny.en"


def test_resolve_fills_only_the_empty_names():
    catalog = load_catalog()
    default = resolve_models(Config())
    assert (default.stt.model, default.llm.model) == (
        "whisper-tiny.en",
        "qwen2.5-coder-0.5b-instruct",
    )
    tiny = resolve_models(replace(Config(), models=ModelsConfig(tier="tiny")), catalog)
    assert tiny.llm.model == "smollm2-135m-instruct" and tiny.tts.voice == "en_US-joe-medium"
    chinese = resolve_models(
        replace(Config(), stt=SttConfig(language="zh"), llm=LlmConfig(model="mine")), catalog
    )
    assert chinese.stt.model == "whisper-base" and chinese.llm.model == "mine"
    assert "zh" in catalog.get(chinese.tts.voice).languages
    with pytest.raises(UsageError, match=r"unknown model tier 'huge'\. Valid tiers: tiny, default"):
        resolve_models(replace(Config(), models=ModelsConfig(tier="huge")))


def test_the_tier_setting_is_checked_when_loaded():
    assert load_config(environ={"ASSISTANT_MODELS_TIER": "large"}).models.tier == "large"
    with pytest.raises(ConfigError, match=r"'models\.tier' must be one of tiny, default, large"):
        load_config(environ={"ASSISTANT_MODELS_TIER": "huge"})
    with pytest.raises(ConfigError, match=r"'models\.source' must be one of pypi, huggingface"):
        load_config(environ={"ASSISTANT_MODELS_SOURCE": "ftp"})


def test_an_older_catalog_with_default_flags_still_loads(tmp_path):
    old = tmp_path / "catalog.toml"
    old.write_text(
        '[[model]]\nname = "m"\nrole = "llm"\ndefault = true\nfiles = [{ name = "model.gguf", '
        'size = 1, sha256 = "' + "a" * 64 + '", from = ["p==1:p/m.gguf"] }]\n'
    )
    assert load_catalog(old).get("m").tiers == ("tiny", "default", "large")


def test_a_hub_only_model_is_not_pulled_from_pypi(tmp_path):
    catalog = load_catalog()
    store = ModelStore(tmp_path / "models", catalog)
    with pytest.raises(
        UsageError, match=r"not on PyPI.*--source huggingface llama-3\.2-1b-instruct"
    ):
        pull(store, ["llama-3.2-1b-instruct"])


def test_downloaded_tier_models_match_their_checksums(store, default_tier):
    for tier in ("tiny", "default"):
        for model in store.catalog.tier_set(tier):
            for model_file in model.files:
                assert sha256_of(store.path(model.name) / model_file.name) == model_file.sha256


def test_download_script_is_idempotent_on_the_real_models(store):
    script = REPO / "scripts" / "download_models.py"
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "nothing downloaded" in result.stdout
    assert result.stderr.count("already present") == len(store.catalog.tier_set("tiny"))


def test_pull_of_a_tier_and_a_language_is_idempotent(store, default_tier):
    script = REPO / "scripts" / "download_models.py"
    result = subprocess.run(
        [sys.executable, str(script), "--tier", "default", "--language", "zh"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    wanted = store.catalog.tier_set("default", "zh")
    assert result.stderr.count("already present") == len(wanted) >= 4
    assert "whisper-base: already present" in result.stderr


def test_quiet_pull_says_nothing_when_all_is_there(store):
    script = REPO / "scripts" / "download_models.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_download_script_rejects_an_unknown_name():
    script = REPO / "scripts" / "download_models.py"
    result = subprocess.run(
        [sys.executable, str(script), "whisper-huge"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown model 'whisper-huge'" in result.stderr and "whisper-tiny.en" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_plain_install_answers_with_the_default_tier(default_tier, question_wav, tmp_path):
    """No tier configured (as after scripts/setup.sh): the better model answers."""
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_MODELS_TIER"}
    run = [sys.executable, "-m", "assistant"]
    shown = subprocess.run([*run, "config", "show"], capture_output=True, text=True, env=env)
    assert 'tier = "default"' in shown.stdout
    assert 'model = "qwen2.5-coder-0.5b-instruct"' in shown.stdout
    answer = subprocess.run(
        [*run, "reply", str(question_wav), "-o", str(tmp_path / "answer.wav")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert answer.returncode == 0, answer.stderr
    assert "Shakespeare" in answer.stdout  # Who wrote Romeo and Juliet?
    assert (tmp_path / "answer.wav").stat().st_size > 10_000


def make_sdist(directory: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    """A source archive as PyPI serves one: name-version/ with the package's files."""
    root = f"{package.replace('-', '_')}-{version}"
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def simple_index(tmp_path, monkeypatch):
    """A package index on loopback in PyPI's simple layout (/simple/<project>/ -> archives with
    their sha256), pip's configured index (PIP_INDEX_URL), serving one sdist."""
    root = tmp_path / "index"
    files = root / "files"
    files.mkdir(parents=True)
    archive = make_sdist(files, "tiny-recordings", "1.0.0", {"test/data/hello.raw": PART_A})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    page = root / "simple" / "tiny-recordings"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        f'<a href="../../files/{archive.name}#sha256={digest}">{archive.name}</a>'
    )
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple/")
    yield archive
    server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def recordings_entry(path: str = "tiny_recordings-1.0.0/test/data/hello.raw") -> ModelEntry:
    return ModelEntry(
        name="recordings",
        role="speech",
        description="test recordings",
        license="MIT",
        huggingface="",
        files=(
            ModelFile(
                "hello.raw",
                len(PART_A),
                hashlib.sha256(PART_A).hexdigest(),
                (WheelMember.parse(f"sdist tiny-recordings==1.0.0:{path}"),),
            ),
        ),
    )


def test_a_file_in_a_source_archive_is_pulled_from_the_index_and_verified(simple_index, tmp_path):
    store = store_with(tmp_path, recordings_entry())
    lines: list[str] = []
    assert pull(store, ["recordings"], report=lines.append) == ["recordings"]
    assert (store.path("recordings") / "hello.raw").read_bytes() == PART_A
    assert any("hello.raw" in line and "sha256 verified" in line for line in lines)
    assert pull(store, ["recordings"]) == []  # there already: nothing fetched


def test_a_source_archive_without_the_file_or_the_version_is_a_clear_error(simple_index, tmp_path):
    store = store_with(tmp_path, recordings_entry("tiny_recordings-1.0.0/nothing.raw"))
    with pytest.raises(
        DownloadError, match=re.escape("has no file tiny_recordings-1.0.0/nothing.raw")
    ):
        pull(store, ["recordings"])
    assert not (store.path("recordings") / "hello.raw").exists()
    wrong = replace(
        recordings_entry(),
        files=(
            replace(
                recordings_entry().files[0],
                sources=(WheelMember.parse("sdist tiny-recordings==2.0.0:x/hello.raw"),),
            ),
        ),
    )
    with pytest.raises(
        DownloadError, match=re.escape("no source archive of tiny-recordings==2.0.0")
    ):
        pull(store_with(tmp_path / "other", wrong), ["recordings"])


def test_a_catalog_source_says_whether_it_is_in_a_wheel_or_a_source_archive():
    wheel = WheelMember.parse("pkg==1.0:pkg/data/a.bin")
    sdist = WheelMember.parse("sdist pkg==1.0:pkg-1.0/test/a.raw")
    assert (wheel.sdist, sdist.sdist) == (False, True)
    assert (sdist.package, sdist.version, sdist.path) == ("pkg", "1.0", "pkg-1.0/test/a.raw")
    with pytest.raises(UsageError, match="sdist package==version:path"):
        WheelMember.parse("sdist pkg:path")


@pytest.fixture
def npm_registry(tmp_path, monkeypatch):
    """npm's registry on loopback (/<name>/<version> -> the version's metadata, with its
    tarball's URL and integrity), npm's configured registry (NPM_CONFIG_REGISTRY), serving one
    package: a wake-word recording under package/ as npm packs it."""
    root = tmp_path / "registry"
    (root / "tiny-hotword" / "-").mkdir(parents=True)
    tarball = root / "tiny-hotword" / "-" / "tiny-hotword-1.0.9.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        info = tarfile.TarInfo("package/keywords.wav")
        info.size = len(PART_A)
        archive.addfile(info, io.BytesIO(PART_A))
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    registry = f"http://127.0.0.1:{server.server_address[1]}/"
    integrity = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    (root / "tiny-hotword" / "1.0.9").write_text(json.dumps({
        "name": "tiny-hotword", "version": "1.0.9",
        "dist": {"tarball": f"{registry}tiny-hotword/-/{tarball.name}",
                 "integrity": f"sha512-{integrity}"},
    }))  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", registry)
    yield tarball
    server.shutdown()


def npm_entry(source: str) -> ModelEntry:
    [model_file] = recordings_entry().files
    return replace(
        recordings_entry(), files=(replace(model_file, sources=(WheelMember.parse(source),)),)
    )


def test_a_file_in_an_npm_package_is_pulled_from_the_registry_and_verified(npm_registry, tmp_path):
    store = store_with(tmp_path, npm_entry("npm tiny-hotword@1.0.9:package/keywords.wav"))
    lines: list[str] = []
    assert pull(store, ["recordings"], report=lines.append) == ["recordings"]
    assert (store.path("recordings") / "hello.raw").read_bytes() == PART_A
    assert any("from npm's registry" in line for line in lines)
    assert any("hello.raw" in line and "sha256 verified" in line for line in lines)
    missing = store_with(tmp_path / "other", npm_entry("npm tiny-hotword@2.0.0:package/x.wav"))
    with pytest.raises(DownloadError, match=re.escape("has no package tiny-hotword@2.0.0")):
        pull(missing, ["recordings"])
    npm_registry.write_bytes(npm_registry.read_bytes()[:-10] + b"0123456789")  # corrupted
    corrupt = store_with(tmp_path / "third", npm_entry("npm tiny-hotword@1.0.9:package/k.wav"))
    with pytest.raises(DownloadError, match="does not match the registry's integrity"):
        pull(corrupt, ["recordings"])


def test_an_npm_source_names_its_package_and_version():
    scoped = WheelMember.parse("npm @picovoice/porcupine-node@4.0.2:package/a.wav")
    assert (scoped.package, scoped.version, scoped.path) == (
        "@picovoice/porcupine-node", "4.0.2", "package/a.wav"
    )  # fmt: skip
    assert scoped.archive == Archive.NPM and not scoped.sdist
    with pytest.raises(UsageError, match="npm package@version:path"):
        WheelMember.parse("npm hotword:package/a.wav")
