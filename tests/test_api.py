"""The Python API, called as a user would: ``import swbatch; swbatch.transcribe(...)``.

It is the same computation as the CLI (the CLI is a thin layer over it), so its outputs must equal
the CLI's exactly, and its errors must be the CLI's messages, raised as typed exceptions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli, silent_wav

import swbatch


def use_cache(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """This process's environment as the CLI's subprocess gets it (restored after the test);
    the HF/torch variables are set here so that the API's own setdefault leaves nothing behind."""
    cache = Path(env["SLOWER_WHISPER_CACHE_ROOT"])
    monkeypatch.setenv("SLOWER_WHISPER_CACHE_ROOT", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache / "hf" / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))


def outputs(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".swbatch" not in p.parts
    }


def test_transcribe_from_python_writes_what_the_cli_writes(
    tmp_path, speech_files, demo_env, monkeypatch
):
    root = tmp_path / "root"
    (root / "raw_audio" / "calls").mkdir(parents=True)
    first, second = list(speech_files)[:2]
    shutil.copy(speech_files[first], root / "raw_audio" / "a.wav")
    shutil.copy(speech_files[second], root / "raw_audio" / "calls" / "b.wav")
    # Exact equality needs the same computation: packing groups clips as they arrive (timing), so
    # which clips share a window can differ between two runs; each file decoded alone cannot.
    flags = ["--model", "demo", "--formats", "json,srt,tsv", "--beam-size", "2", "--quiet",
             "--no-pack"]  # fmt: skip
    res = run_cli(["transcribe", str(root), "--output", str(tmp_path / "cli"), *flags], demo_env)
    assert res.returncode == 0, res.stderr

    use_cache(monkeypatch, demo_env)
    summary = swbatch.transcribe(
        root,
        output=tmp_path / "api",
        model="demo",
        formats="json,srt,tsv",
        beam_size=2,
        quiet=True,
        pack=False,
    )
    assert isinstance(summary, swbatch.Summary)
    assert (summary.done, summary.failed, summary.exit_code) == (2, 0, 0)
    from_cli, from_api = outputs(tmp_path / "cli"), outputs(tmp_path / "api")
    assert "whisper_json/calls/b.wav.json" in from_api
    assert set(from_api) == set(from_cli)
    for name, text in from_api.items():
        if name.endswith(".json"):  # all but the wall-clock timings, which no two runs share
            ours, theirs = json.loads(text), json.loads(from_cli[name])
            assert ours.pop("timings") and theirs.pop("timings")
            assert ours == theirs, name
        else:
            assert text == from_cli[name], name

    # a rerun through the API skips what is done, as the CLI's rerun does
    again = swbatch.transcribe(root, output=tmp_path / "api", model="demo", formats="json,srt,tsv",
                               beam_size=2, quiet=True)  # fmt: skip
    assert (again.done, again.skipped) == (0, 2)


@pytest.mark.parametrize(
    ("flags", "cli_args"),
    [
        ({"beam_size": 0}, ["--beam-size", "0"]),
        ({"task": "sing"}, ["--task", "sing"]),
        ({"temperature": "hot"}, ["--temperature", "hot"]),
        ({"max_speakers": 2, "min_speakers": 3}, ["--max-speakers", "2", "--min-speakers", "3"]),
        ({"beam_sise": 2}, ["--beam-sise", "2"]),
    ],
)
def test_a_bad_flag_raises_usage_error_with_the_cli_message(
    flags, cli_args, tmp_path, clean_env, monkeypatch
):
    root = tmp_path / "root"
    silent_wav(root / "raw_audio" / "a.wav")
    res = run_cli(["transcribe", str(root), *cli_args], clean_env)
    assert res.returncode == 2
    use_cache(monkeypatch, clean_env)
    with pytest.raises(swbatch.UsageError) as caught:
        swbatch.transcribe(root, **flags)
    assert res.stderr.strip() == f"swbatch: error: {caught.value}"
    assert caught.value.exit_code == 2
    assert not (root / ".swbatch").exists(), "nothing runs before the flags are checked"


def test_dashed_names_are_the_same_flags_from_python(tmp_path, clean_env, monkeypatch):
    root = tmp_path / "root"
    silent_wav(root / "raw_audio" / "a.wav")
    use_cache(monkeypatch, clean_env)
    with pytest.raises(swbatch.UsageError, match=r"^--beam-size: must be a whole number"):
        swbatch.transcribe(root, **{"beam-size": 0})


def test_a_missing_model_raises_model_missing(tmp_path, clean_env, monkeypatch):
    root = tmp_path / "root"
    silent_wav(root / "raw_audio" / "a.wav")
    res = run_cli(["transcribe", str(root), "--model", "tiny"], clean_env)
    assert res.returncode == 3, res.stderr
    use_cache(monkeypatch, clean_env)
    with pytest.raises(swbatch.ModelMissing) as caught:
        swbatch.transcribe(root, model="tiny")
    assert isinstance(caught.value, swbatch.ModelMissingError)
    assert res.stderr.strip().splitlines()[-1] == f"swbatch: error: {caught.value}"
    assert caught.value.exit_code == 3


def test_run_a_manifest_and_the_cache_api(tmp_path, speech_files, demo_env, monkeypatch):
    audio = tmp_path / "in" / "talk.wav"
    audio.parent.mkdir()
    shutil.copy(next(iter(speech_files.values())), audio)
    manifest = tmp_path / "in" / "jobs.yaml"
    manifest.write_text("output_dir: ../out\njobs:\n  - audio: talk.wav\n    beam_size: 1\n")
    use_cache(monkeypatch, demo_env)
    summary = swbatch.run(manifest, model="demo", formats=["json"], quiet=True)
    assert (summary.done, summary.failed) == (1, 0)
    doc = json.loads((tmp_path / "out" / "whisper_json" / "talk.wav.json").read_text())
    assert doc["options"]["beam_size"] == 1 and doc["segments"]

    shown = swbatch.show_cache()
    cli = json.loads(run_cli(["cache", "--show", "--json"], demo_env).stdout)
    assert shown == cli
    report = swbatch.verify_cache()
    assert report.ok, report.format()
    assert swbatch.batch_summary(manifest).complete
    # the run wrote its page and recorded the command that does the same, which the page shows
    page = tmp_path / "out" / ".swbatch" / "report.html"
    assert page.is_file() and swbatch.batch_report(manifest, embed_mb=0).resolve() == page
    recorded = json.loads((tmp_path / "out" / ".swbatch" / "summary.json").read_text())["command"]
    assert recorded == f"swbatch run {manifest} --model demo --formats json --quiet"


def test_importing_swbatch_loads_no_heavy_library(clean_env):
    code = (
        "import sys, swbatch; swbatch.show_cache(); "
        "heavy = [m for m in ('torch', 'transformers', 'ctranslate2', 'pyannote', "
        "'faster_whisper', 'av') if m in sys.modules]; print(heavy)"
    )
    res = subprocess.run([sys.executable, "-c", code], env=clean_env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_prefetch_and_clear_from_python(cache_root, clean_env, monkeypatch):
    res = run_cli(["prefetch"], clean_env)
    use_cache(monkeypatch, clean_env)
    with pytest.raises(swbatch.UsageError) as caught:
        swbatch.prefetch()
    assert res.stderr.strip() == f"swbatch: error: {caught.value}"

    (entry,) = swbatch.prefetch("demo")
    assert entry["sets"] == ["demo"] and entry["kind"] == "whisper"
    assert (cache_root / entry["path"] / "model.bin").is_file()
    assert swbatch.verify_cache().ok
    (cleared,) = swbatch.clear_cache("whisper", dry_run=True)
    assert cleared.unlocked == (f"{entry['repo']}@{entry['revision']}",)
    assert (cache_root / entry["path"] / "model.bin").is_file(), "a dry run deletes nothing"
    (cleared,) = swbatch.clear_cache("whisper")
    assert not (cache_root / entry["path"]).exists()
    assert swbatch.verify_cache().ok, "the lock lost the cleared model's entry with it"


def test_dry_run_from_python_writes_nothing(tmp_path, speech_files, demo_env, monkeypatch, capsys):
    root = tmp_path / "root"
    (root / "raw_audio").mkdir(parents=True)
    shutil.copy(next(iter(speech_files.values())), root / "raw_audio" / "a.wav")
    use_cache(monkeypatch, demo_env)
    summary = swbatch.transcribe(root, model="demo", dry_run=True)
    assert (summary.total, summary.done, summary.skipped) == (1, 0, 0)
    assert capsys.readouterr().out.splitlines()[-1].startswith("swbatch: dry run: 1 to run, 0 ")
    assert sorted(p.name for p in root.iterdir()) == ["raw_audio"], "nothing is written"
