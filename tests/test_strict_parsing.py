"""Values arrive as the user typed them: through the real CLI, paths and names that look like
numbers stay text, conflicting flags and unknown languages are refused up front, and job
manifests never turn ``012``, ``no`` or ``yes`` into numbers or booleans behind the user's back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from test_transcribe import read_status

from swbatch.languages import LANGUAGE_CODES


def one_error_line(res, *needles: str, code: int = 2) -> str:
    """The run failed with ``code`` and said why in one line, without a traceback."""
    assert res.returncode == code, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swbatch: error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_language_codes_are_faster_whispers():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert tuple(_LANGUAGE_CODES) == LANGUAGE_CODES


def test_numeric_paths_and_names_stay_text(tmp_path, speech_files, demo_env):
    wav = next(iter(speech_files.values()))
    (tmp_path / "2024" / "raw_audio").mkdir(parents=True)
    shutil.copy(wav, tmp_path / "2024" / "raw_audio" / "a.wav")

    # --root 2024 was the int 2024 (a TypeError traceback); --formats json,txt was a tuple
    res = run_cli(["transcribe", "--root", "2024", "--output", "2027", "--model", "demo",
                   "--formats", "json,txt"], demo_env, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "2027/whisper_json/a.wav.json").read_text())
    assert doc["segments"] and (tmp_path / "2027/transcripts/a.wav.txt").exists()
    res = run_cli(["summary", "2024", "--output", "2027"], demo_env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr

    # a manifest named 2024.5 (was a float), whose output_dir, output and id look like numbers
    (tmp_path / "2024.5").write_text(
        "output_dir: 2026\ndefaults: {language: no, formats: json}\n"
        "jobs:\n  - {audio: 2024/raw_audio/a.wav, id: 012, output: 1e3}\n"
    )
    res = run_cli(["run", "2024.5", "--model", "demo"], demo_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert [r["id"] for r in read_status(tmp_path / "2026")] == ["012"]
    doc = json.loads((tmp_path / "2026/whisper_json/1e3.json").read_text())
    assert doc["id"] == "012" and doc["options"]["language"] == "no"

    # names that look like numbers reach the code that knows the names
    one_error_line(run_cli(["prefetch", "2024"], demo_env), "unknown model set '2024'")
    one_error_line(run_cli(["transcribe", "--root", "2024", "--model", "2024"], demo_env,
                           cwd=tmp_path), "unknown whisper model '2024'", code=2)  # fmt: skip
    one_error_line(run_cli(["cache", "--clear", "1e3"], demo_env), "unknown cache target '1e3'")
    one_error_line(run_cli(["summary", "0x10"], demo_env, cwd=tmp_path), "0x10 holds no batch")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["cache", "--verify", "--clear", "torch"], "--clear and --verify are different actions"),
        (["cache", "--show", "--clear", "all"], "--show and --clear are different actions"),
        (["cache", "--show", "--verify"], "--show and --verify are different actions"),
        (["cache", "--verify", "--dry-run"], "--dry-run only goes with --clear"),
        (["cache", "--clear"], "--clear needs a value"),
        (["cache", "--clear", "--dry-run"], "--clear needs a value"),
        (["transcribe", "--root"], "--root needs a value"),
        (["transcribe", "--root", "r", "--language", "eng"], "'eng' (did you mean en?)"),
        (["transcribe", "--root", "r", "--language", "english"], "(did you mean en?)"),
        (["transcribe", "--root", "r", "--language", "xx"], "unknown language 'xx'"),
        (["transcribe", "--root", "r", "--language", "EN"], "lower case: en"),
        (["run", "jobs.yaml", "--language", "2024"], "unknown language '2024'"),
    ],
)
def test_conflicts_and_unknown_languages_are_refused_before_anything_runs(
    tmp_path, clean_env, args, needle
):
    """One line, exit 2, and nothing touched: the cache stays, no audio folder is read."""
    marker = Path(clean_env["SLOWER_WHISPER_CACHE_ROOT"]) / "torch" / "keep.bin"
    marker.parent.mkdir(parents=True)
    marker.write_bytes(b"x")
    work = tmp_path / "work"
    work.mkdir()
    one_error_line(run_cli(args, clean_env, cwd=work), needle)
    assert marker.exists()
    assert list(work.iterdir()) == [], "nothing may be written before the refusal"


def test_manifest_scalars_are_read_as_the_schema_says(tmp_path, demo_env):
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        """
jobs:
  - {audio: a.wav, num_speakers: "2"}
  - {audio: b.wav, diarize: maybe}
  - {audio: c.wav, language: xx}
  - {audio: d.wav, language: "No"}
  - {audio: e.wav, id: [1]}
  - [a, list]
"""
    )
    res = run_cli(["run", str(manifest)], demo_env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    for needle in ("jobs[0].num_speakers: must be a whole number >= 1, not '2'",
                   "jobs[1].diarize: must be true or false, not 'maybe'",
                   "jobs[2].language: unknown language 'xx'",
                   "jobs[3].language: unknown language 'No'; language codes are lower case: no",
                   "jobs[4].id: must be str, got list", "jobs[5]: must be a mapping",
                   "(6 problems)"):  # fmt: skip
        assert needle in res.stderr, (needle, res.stderr)
