"""Shared fixtures: a private cache root per test and a helper that runs the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SWBATCH = [sys.executable, "-m", "swbatch.cli"]


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    """An empty cache root that no other test shares."""
    root = tmp_path / "cache"
    root.mkdir()
    return root


@pytest.fixture
def clean_env(cache_root: Path) -> dict[str, str]:
    """The environment for a CLI run: our cache root, no inherited HF/torch overrides, offline."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HOME", "TORCH_HOME", "HF_HUB_CACHE", "SWBATCH_DEBUG", "HF_TOKEN")
    }
    env["SLOWER_WHISPER_CACHE_ROOT"] = str(cache_root)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def run_cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``swbatch ARGS`` in a subprocess, as a user would, and capture its output."""
    return subprocess.run(
        [*SWBATCH, *args], env=env, capture_output=True, text=True, timeout=600, **kwargs
    )
