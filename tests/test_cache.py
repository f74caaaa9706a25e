"""The model cache through the real CLI: show, clear, dry runs, refusals, env overrides."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import run_as_nobody, run_cli

from swbatch.cache import CachePaths, configure_global_cache_env


def make_hub_repo(folder: Path, repo_id: str, files: dict[str, int], revision: str = "a" * 40):
    """Write a repo in huggingface_hub's cache layout: blobs, a snapshot of symlinks, refs/main."""
    repo = folder / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for name, size in files.items():
        data = os.urandom(size)
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return repo


@pytest.fixture
def filled(cache_root: Path) -> Path:
    """A cache with models of known sizes in whisper/, emotion/ and hf/hub/."""
    make_hub_repo(cache_root / "whisper", "Systran/faster-whisper-tiny.en", {"model.bin": 3000})
    make_hub_repo(cache_root / "emotion", "superb/wav2vec2-base-superb-er", {"model.bin": 2000})
    make_hub_repo(cache_root / "hf" / "hub", "org/other", {"a.bin": 1000, "b.json": 24})
    (cache_root / "torch").mkdir()
    (cache_root / "diarization").mkdir()
    return cache_root


REF = 40  # bytes of each refs/main file
TOTAL = 3000 + 2000 + 1024 + 3 * REF


def show_json(env) -> dict:
    res = run_cli(["cache", "--show", "--json"], env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def folder_by_target(report: dict, target: str) -> dict:
    return next(f for f in report["folders"] if f["target"] == target)


def test_show_text_lists_folders_sizes_and_models(filled, clean_env):
    res = run_cli(["cache", "--show"], clean_env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for label in ("Root:", "HF_HOME:", "TORCH_HOME:", "Whisper:", "Emotion:", "Diarization:"):
        assert label in out
    # 3000 bytes of weights + the 40-byte refs/main file
    assert f"Whisper:      {filled / 'whisper'} (3.0 KB)" in out
    assert "Systran/faster-whisper-tiny.en@aaaaaaaaaaaa  2.9 KB" in out
    assert "superb/wav2vec2-base-superb-er" in out
    assert "Total:        6.0 KB" in out


def test_show_json_has_exact_sizes_and_models(filled, clean_env):
    report = show_json(clean_env)
    assert report["root"] == str(filled)
    assert report["total"] == TOTAL
    whisper = folder_by_target(report, "whisper")
    assert whisper["size"] == 3000 + REF
    assert [m["repo_id"] for m in whisper["models"]] == ["Systran/faster-whisper-tiny.en"]
    assert whisper["models"][0]["revision"] == "a" * 40
    assert whisper["models"][0]["refs"] == ["main"]
    hf = folder_by_target(report, "hf")
    assert hf["models"][0]["repo_id"] == "org/other" and hf["models"][0]["size"] == 1024


@pytest.mark.parametrize("target", ["whisper", "emotion", "hf", "torch", "diarization"])
def test_clear_one_target_empties_only_that_folder(filled, clean_env, target):
    (filled / "torch" / "hub").mkdir()
    (filled / "torch" / "hub" / "w.pt").write_bytes(b"x" * 500)
    before = show_json(clean_env)
    res = run_cli(["cache", "--clear", target], clean_env)
    assert res.returncode == 0, res.stderr
    freed = folder_by_target(before, target)["size"]
    assert res.stdout.startswith(f"{target}: freed ")
    after = show_json(clean_env)
    assert folder_by_target(after, target)["size"] == 0
    assert (filled / folder_by_target(after, target)["path"]).is_dir()
    assert after["total"] == before["total"] - freed
    for other in ("whisper", "emotion", "hf", "torch", "diarization"):
        if other != target:
            assert folder_by_target(after, other) == folder_by_target(before, other)


def test_clear_all_and_dry_run(filled, clean_env):
    dry = run_cli(["cache", "--clear", "all", "--dry-run"], clean_env)
    assert dry.returncode == 0, dry.stderr
    assert "whisper: would free 3.0 KB in 1 entry" in dry.stdout
    assert "models--Systran--faster-whisper-tiny.en" in dry.stdout
    assert "total: would free 6.0 KB" in dry.stdout
    assert show_json(clean_env)["total"] == TOTAL  # nothing went
    res = run_cli(["cache", "--clear", "all", "--json"], clean_env)
    cleared = json.loads(res.stdout)
    assert sum(c["size"] for c in cleared) == TOTAL
    assert show_json(clean_env)["total"] == 0


def test_symlink_to_outside_survives_clear(filled, clean_env, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.bin").write_bytes(b"keep me")
    (filled / "whisper" / "link-to-precious").symlink_to(outside)
    (filled / "whisper" / "models--Systran--faster-whisper-tiny.en" / "inner-link").symlink_to(
        outside
    )
    res = run_cli(["cache", "--clear", "whisper"], clean_env)
    assert res.returncode == 0, res.stderr
    assert not os.path.lexists(filled / "whisper" / "link-to-precious")
    assert list((filled / "whisper").iterdir()) == []
    assert (outside / "data.bin").read_bytes() == b"keep me"


def _one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0]


def test_refuses_hf_home_that_holds_the_cache_root(filled, clean_env, tmp_path):
    env = {**clean_env, "HF_HOME": str(tmp_path)}
    _one_line_error(run_cli(["cache", "--clear", "hf"], env), "refusing", "HF_HOME")
    _one_line_error(run_cli(["cache", "--clear", "all"], env), "refusing")
    assert show_json(clean_env)["total"] == TOTAL


def test_refuses_root_that_is_home_or_slash(clean_env, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "whisper").mkdir()
    (home / "whisper" / "notes.txt").write_text("mine")
    env = {**clean_env, "HOME": str(home), "SLOWER_WHISPER_CACHE_ROOT": str(home)}
    _one_line_error(run_cli(["cache", "--clear", "whisper"], env), "refusing", "home")
    env_home_hf = {**clean_env, "HOME": str(home), "HF_HOME": str(home)}
    _one_line_error(run_cli(["cache", "--clear", "hf"], env_home_hf), "home")
    assert (home / "whisper" / "notes.txt").exists()
    env_root = {**clean_env, "SLOWER_WHISPER_CACHE_ROOT": "/"}
    _one_line_error(run_cli(["cache", "--clear", "torch", "--dry-run"], env_root), "refusing")


def test_flag_typo_is_refused_before_anything_is_deleted(filled, clean_env):
    res = run_cli(["cache", "--clear", "whisper", "--dryrun"], clean_env)
    _one_line_error(res, "unknown flag --dryrun", "swbatch cache --help")
    assert show_json(clean_env)["total"] == TOTAL


def test_user_errors_are_one_line_with_exit_2(clean_env, cache_root, tmp_path):
    _one_line_error(run_cli(["cache", "--clear", "bogus"], clean_env), "unknown cache target")
    afile = tmp_path / "afile"
    afile.write_text("x")
    env = {**clean_env, "SLOWER_WHISPER_CACHE_ROOT": str(afile)}
    _one_line_error(run_cli(["cache", "--show"], env), "is a file")
    debug = run_cli(["--debug", "cache", "--clear", "bogus"], clean_env)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_unwritable_cache_gives_chmod_hint(clean_env):
    """Run as an unprivileged user against a root-owned cache, as on a shared host."""
    shared = Path(tempfile.mkdtemp(prefix="swbatch-shared-", dir="/tmp"))
    os.chmod(shared, 0o755)
    model = make_hub_repo(shared / "whisper", "Systran/faster-whisper-tiny.en", {"m.bin": 10})
    clean_env = {**clean_env, "SLOWER_WHISPER_CACHE_ROOT": str(shared)}
    try:
        res = run_as_nobody(["cache", "--clear", "whisper"], clean_env)
        _one_line_error(res, "permission denied", "chmod -R u+w")
        assert (model / "refs" / "main").is_file()
    finally:
        shutil.rmtree(shared)


def test_env_overrides_and_idempotent_configure(tmp_path):
    env = {"SLOWER_WHISPER_CACHE_ROOT": str(tmp_path / "root"), "HF_HOME": str(tmp_path / "myhf")}
    paths = configure_global_cache_env(env)
    assert paths.hf_home == tmp_path / "myhf"
    assert paths.torch_home == tmp_path / "root" / "torch"
    assert env["HF_HOME"] == str(tmp_path / "myhf")
    assert env["TORCH_HOME"] == str(tmp_path / "root" / "torch")
    assert env["HF_HUB_CACHE"] == str(tmp_path / "myhf" / "hub")
    snapshot = dict(env)
    assert configure_global_cache_env(env) == paths
    assert env == snapshot
    for folder in ("whisper", "emotion", "diarization", "torch"):
        assert (tmp_path / "root" / folder).is_dir()
    default = CachePaths.from_env({"HOME": str(tmp_path)})
    assert default.root.name == "slower-whisper"


def test_help_and_show_import_no_heavy_library(clean_env):
    probe = (
        "import sys; from swbatch.cli import main; "
        "code = main(sys.argv[1:]); "
        "heavy = [m for m in ('torch', 'transformers', 'ctranslate2', 'pyannote', "
        "'faster_whisper', 'av') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(code)"
    )
    for args in (["--help"], ["cache", "--show"], ["cache", "--help"]):
        res = subprocess.run(
            [sys.executable, "-c", probe, *args], env=clean_env, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        assert "HEAVY []" in res.stderr, (args, res.stderr)
        assert res.stdout.strip()
