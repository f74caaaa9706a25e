"""What every benchmark script ends with: its result as JSON and markdown under one folder."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def write_results(out: str | Path, name: str, result: dict, table: str) -> None:
    """Write ``NAME.json`` (the numbers) and ``NAME.md`` (the table the docs quote) under
    ``out``, and print the table."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / f"{name}.md").write_text(table)
    print(table)


def machine() -> str:
    """The machine in one phrase, for the tables: CPUs this process may use, arch, Python."""
    return (
        f"{len(os.sched_getaffinity(0))} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
