"""The skip list and required test groups (tests/skip_report.py), run on a small suite by a real
pytest in a subprocess: what CI prints and whether it goes red."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SUITE = """
import pytest

@pytest.mark.torch
def test_needs_torch():
    pytest.skip("torch is not here")

@pytest.mark.sox
def test_needs_sox():
    pytest.skip("sox is not here")

@pytest.mark.torch
def test_torch_that_runs():
    assert sum([1, 2]) == 3

def test_plain():
    assert "a".upper() == "A"
"""


def run_suite(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n  torch: t\n  sox: s\n")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SWBATCH_REQUIRE", "SWBATCH_TEST_TORCH", "PYTEST_ADDOPTS")}  # fmt: skip
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), clean.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "skip_report", "-p", "no:cacheprovider", "-q",
         str(tmp_path)],
        cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_skips_are_listed_with_their_reasons_at_the_end(tmp_path):
    res = run_suite(tmp_path)
    assert res.returncode == 0, res.stdout
    tail = res.stdout.split("skipped: 2 tests, by reason", 1)[1]
    assert "1 x sox is not here\n    test_sample.py::test_needs_sox" in tail
    assert "1 x torch is not here\n    test_sample.py::test_needs_torch" in tail


@pytest.mark.parametrize(
    ("env", "groups"),
    [
        ({"SWBATCH_REQUIRE": "torch"}, ["torch"]),
        ({"SWBATCH_TEST_TORCH": "1"}, ["torch"]),
        ({"SWBATCH_REQUIRE": "sox, torch"}, ["sox", "torch"]),
    ],
)
def test_a_required_group_that_skipped_fails_the_run(tmp_path, env, groups):
    res = run_suite(tmp_path, **env)
    assert res.returncode == 1, res.stdout
    for group in groups:
        assert f"FAILED: SWBATCH_REQUIRE asks for every '{group}' test to run; 1 skipped:" in (
            res.stdout
        )
        assert f"test_sample.py::test_needs_{group}: {group} is not here" in res.stdout


def test_required_groups_that_ran_keep_the_run_green(tmp_path):
    res = run_suite(tmp_path, SWBATCH_REQUIRE="container")
    assert res.returncode == 0, res.stdout
    assert "FAILED" not in res.stdout
