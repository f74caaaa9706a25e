"""`--output DIR`: every write goes under DIR, so the input can be a read-only mount.

Each test makes the input tree read-only (a read-only bind mount, as `docker run -v
/archive:/data:ro` does), runs the real CLI on real espeak-ng speech with the demo model, checks the
transcripts' words, and checks that the input tree is byte for byte what it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import read_only, run_cli
from speech import word_error_rate


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mtime: any write shows up as a difference."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in [folder, *folder.rglob("*")]
    }


def make_input(tmp_path: Path, speech_files: dict[str, Path], count: int) -> tuple[Path, dict]:
    """An input tree ``data/raw_audio/<i>.wav`` and {output name: sentence}."""
    data = tmp_path / "data"
    (data / "raw_audio").mkdir(parents=True)
    texts = {}
    for i, (text, wav) in enumerate(list(speech_files.items())[:count]):
        (data / "raw_audio" / f"s{i}.wav").write_bytes(wav.read_bytes())
        texts[f"s{i}.wav"] = text
    return data, texts


def assert_transcripts(out: Path, texts: dict[str, str], folder: str = "transcripts") -> None:
    hypotheses = [(out / folder / f"{name}.txt").read_text() for name in texts]
    assert word_error_rate(list(texts.values()), hypotheses) < 0.2, hypotheses


def test_transcribe_read_only_root_into_output(tmp_path, speech_files, demo_env):
    data, texts = make_input(tmp_path, speech_files, 2)
    out = tmp_path / "out"
    before = snapshot(data)
    with read_only(data):
        res = run_cli(["transcribe", "--root", str(data), "--output", str(out), "--model", "demo"],
                      demo_env)  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert_transcripts(out, texts)
        assert {p.name for p in (out / "whisper_json").iterdir()} == {f"{n}.json" for n in texts}
        records = [
            json.loads(x) for x in (out / ".swbatch" / "status.jsonl").read_text().splitlines()
        ]
        assert sorted(r["state"] for r in records) == ["done", "done"]
        # the summary reads the same --output; a rerun into it skips what is done
        summary = run_cli(["summary", str(data), "--output", str(out), "--json"], demo_env)
        assert summary.returncode == 0, summary.stdout + summary.stderr
        report = json.loads(summary.stdout)
        assert report["done"] == 2 and report["jobs"] == 2 and not report["missing_jobs"]
        rerun = run_cli(["transcribe", "--root", str(data), "--output", str(out)], demo_env)
        assert rerun.returncode == 0, rerun.stderr
        assert "0 done, 2 skipped, 0 failed" in rerun.stderr + rerun.stdout
    assert snapshot(data) == before


def test_without_output_a_read_only_root_is_one_clear_line(tmp_path, speech_files, demo_env):
    """The default is unchanged (outputs under --root): on a read-only root it says what to do."""
    data, _texts = make_input(tmp_path, speech_files, 1)
    with read_only(data):
        res = run_cli(["transcribe", "--root", str(data), "--model", "demo"], demo_env)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "writable" in lines[0], res.stderr
    assert not (data / ".swbatch").exists()


def test_run_manifest_on_read_only_mount_into_output(tmp_path, speech_files, demo_env):
    """`run jobs.yaml --output DIR` with the manifest and its audio on a read-only mount; the
    manifest's own output_dir (inside the mount) is replaced by --output."""
    data, texts = make_input(tmp_path, speech_files, 2)
    jobs = "\n".join(f"  - {{audio: raw_audio/{name}, output: {name}}}" for name in texts)
    (data / "jobs.yaml").write_text(
        f"output_dir: results\ndefaults: {{model: demo}}\njobs:\n{jobs}\n"
    )
    out = tmp_path / "out"
    before = snapshot(data)
    with read_only(data):
        res = run_cli(["run", str(data / "jobs.yaml"), "--output", str(out)], demo_env)
        assert res.returncode == 0, res.stderr
        assert_transcripts(out, texts)
        summary = run_cli(["summary", str(data / "jobs.yaml"), "--output", str(out)], demo_env)
        assert summary.returncode == 0, summary.stdout + summary.stderr
    assert snapshot(data) == before


def test_shards_share_one_output(tmp_path, speech_files, demo_env):
    """Two shards of one read-only root write into one --output (planned there beforehand);
    the summary finds both."""
    data, texts = make_input(tmp_path, speech_files, 3)
    out = tmp_path / "out"
    before = snapshot(data)
    with read_only(data):
        plan = run_cli(["plan", str(data), "--shards", "2", "--output", str(out)], demo_env)
        assert plan.returncode == 0, plan.stderr
        assert (out / ".swbatch" / "plan-2.json").is_file()
        for shard in ("0/2", "1/2"):
            res = run_cli(["transcribe", "--root", str(data), "--output", str(out), "--model",
                           "demo", "--shard", shard], demo_env)  # fmt: skip
            assert res.returncode == 0, res.stderr
        summary = run_cli(["summary", str(data), "--output", str(out), "--json"], demo_env)
        assert summary.returncode == 0, summary.stdout + summary.stderr
        report = json.loads(summary.stdout)
        assert report["done"] == 3 and report["shard_count"] == 2
        assert_transcripts(out, texts)
    assert snapshot(data) == before


def test_output_needs_a_folder(tmp_path, speech_files, demo_env):
    data, _texts = make_input(tmp_path, speech_files, 1)
    res = run_cli(["transcribe", "--root", str(data), "--output"], demo_env)
    assert res.returncode == 2, res.stderr
    assert "--output needs a value" in res.stderr
    res = run_cli(["transcribe", "--root", str(data), "--output="], demo_env)
    assert res.returncode == 2, res.stderr
    assert "--output needs a folder" in res.stderr
