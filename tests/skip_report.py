"""A pytest plugin (loaded by conftest.py): the skip list at the end of every run, and test
groups that must not skip.

A group is a marker (``torch``, ``sox``, ...). ``SWBATCH_REQUIRE=torch,sox`` (set by .ci/run and
scripts/test.sh for what they installed; ``SWBATCH_TEST_TORCH=1`` implies ``torch``) makes any
skipped test of those groups fail the run at the end, with a message naming them: a CI that
installed torch must never go green having skipped the torch tests.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import NoReturn

import pytest

_skipped: list[pytest.TestReport] = []
_offenders: dict[str, list[str]] = {}


def required_groups() -> set[str]:
    """The groups this run must not skip."""
    groups = {g.strip() for g in os.environ.get("SWBATCH_REQUIRE", "").split(",") if g.strip()}
    if os.environ.get("SWBATCH_TEST_TORCH") == "1":
        groups.add("torch")
    return groups


def skip_or_fail(reason: str, group: str) -> NoReturn:
    """Skip with ``reason``, or fail at once where ``group`` is required (a failed download must
    not turn into skips that let CI go green)."""
    if group in required_groups():
        pytest.fail(f"{reason} (the {group} tests are required here: SWBATCH_REQUIRE)", False)
    pytest.skip(reason)


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    required = required_groups()
    for report in _skipped:
        for group in sorted(required & set(report.keywords)):
            _offenders.setdefault(group, []).append(f"{report.nodeid}: {_reason(report)}")
    if _offenders and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    write = terminalreporter.write_line
    by_reason: dict[str, list[str]] = defaultdict(list)
    for report in _skipped:
        by_reason[_reason(report)].append(report.nodeid)
    if by_reason:
        terminalreporter.section(f"skipped: {len(_skipped)} tests, by reason")
        for reason, ids in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            write(f"{len(ids)} x {reason}")
            for nodeid in ids:
                write(f"    {nodeid}")
    for group, lines in sorted(_offenders.items()):
        terminalreporter.section(f"required group '{group}' skipped", red=True)
        write(f"FAILED: SWBATCH_REQUIRE asks for every '{group}' test to run; "
              f"{len(lines)} skipped:", red=True)  # fmt: skip
        for line in lines:
            write(f"    {line}")
