"""One spelling of every flag: ``--help`` writes them as the README and docs do (``--beam-size``),
both spellings work, and ``cache --show`` prints model names whole."""

from __future__ import annotations

import json
import re

from conftest import REPO, run_cli

from swbatch import cli_reference
from swbatch.argv import dashed
from swbatch.cli import Cli

COMMANDS = [name for name in dir(Cli) if not name.startswith("_")]
FLAG = re.compile(r"--[a-z][a-z0-9_-]*")


def help_flags(env: dict[str, str]) -> set[str]:
    """Every ``--flag`` that the help of swbatch and each of its commands writes."""
    found = set()
    for args in ([], *([c] for c in COMMANDS)):
        res = run_cli([*args, "--help"], env)
        assert res.returncode == 0, res.stderr
        found |= set(FLAG.findall(res.stdout))
    return found


def test_transcribe_help_spells_flags_with_dashes(clean_env):
    res = run_cli(["transcribe", "--help"], clean_env)
    flags = set(FLAG.findall(res.stdout))
    assert {"--beam-size", "--initial-prompt", "--no-speech-threshold", "--dry-run"} <= flags
    assert not [f for f in flags if "_" in f], "no flag in --help is spelled with '_'"


def test_both_spellings_are_the_same_flag(tmp_path, clean_env):
    (tmp_path / "raw_audio").mkdir()
    lines = {
        run_cli(["transcribe", str(tmp_path), spelling, "0"], clean_env).stderr.strip()
        for spelling in ("--beam-size", "--beam_size")
    }
    assert lines == {"swbatch: error: --beam-size: must be a whole number >= 1, not 0"}


def test_every_flag_in_the_docs_is_in_help_spelled_the_same(clean_env):
    """A flag of swbatch written in README.md or docs/ (either spelling, or --no-FLAG) must appear
    in some ``--help`` exactly as written; other tools' flags (docker, sbatch) are not ours."""
    helped = help_flags(clean_env)
    ours = {f.replace("-", "_") for f in helped}
    wrong, checked = [], set()
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for flag in set(FLAG.findall(doc.read_text(encoding="utf-8"))):
            name = flag.rstrip("-_")
            positive = re.sub(r"^--no[-_]", "--", name)
            if name.replace("-", "_") not in ours and positive.replace("-", "_") not in ours:
                continue  # not a flag of swbatch
            checked.add(name)
            if name not in helped and (name == positive or dashed(positive) != positive
                                       or positive not in helped):  # fmt: skip
                wrong.append(f"{doc.relative_to(REPO)}: {name}")
    assert {"--beam-size", "--output", "--clear"} <= checked, "the docs were read"
    assert not wrong, "flags the docs spell differently from --help: " + ", ".join(sorted(wrong))


def test_cache_show_never_cuts_a_name(demo_env, demo_cache):
    (entry,) = json.loads((demo_cache / "swbatch.lock.json").read_text())["models"]
    res = run_cli(["cache", "--show"], demo_env)
    assert res.returncode == 0, res.stderr
    assert not entry["revision"].isalnum(), "the demo's revision is a name (pkg-...), not a hash"
    assert f"{entry['repo']}@{entry['revision']} " in res.stdout


def test_the_cli_reference_is_generated_from_the_code():
    """docs/cli.md is what ``python -m swbatch.cli_reference docs/cli.md`` writes now."""
    committed = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference.render(), (
        "docs/cli.md is stale: python -m swbatch.cli_reference docs/cli.md"
    )
    assert all(f"## `{name}`" in committed for name in COMMANDS), "every command is in it"
