"""Decoding and layout flags, and settings-aware reruns, through the real CLI and real tiny.en."""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import pysrt
import pytest
import webvtt
from conftest import run_cli
from speech import have_espeak, speak

from swbatch.flags import BY_NAME, FLAGS, JOB_FLAGS, asr_kwargs
from swbatch.jobs import JobSettings

SENTENCE = "Please call me tomorrow morning at the office, said Doctor Smythe."


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return speak(tmp_path_factory.mktemp("spoken") / "a.wav", SENTENCE)


def root_with(tmp_path: Path, audio: Path, name: str = "a.wav") -> Path:
    raw = tmp_path / "root" / "raw_audio"
    raw.mkdir(parents=True)
    (raw / name).write_bytes(audio.read_bytes())
    return tmp_path / "root"


def transcribe(root: Path, env: dict, *flags: str):
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", *flags], env)
    assert res.returncode == 0, res.stderr
    return res


def doc_of(root: Path, name: str = "a.wav") -> dict:
    return json.loads((root / "whisper_json" / f"{name}.json").read_text())


def last_record(root: Path) -> dict:
    return json.loads((root / ".swbatch" / "status.jsonl").read_text().splitlines()[-1])


def transcribed(root: Path) -> int:
    """How many files went through ASR in the last run (the summary's counter)."""
    return json.loads((root / ".swbatch" / "summary.json").read_text())["transcribed"]


def snapshot(root: Path) -> dict:
    """(inode, mtime) of every output file."""
    return {
        p: (p.stat().st_ino, p.stat().st_mtime_ns)
        for folder in ("whisper_json", "transcripts")
        for p in (root / folder).rglob("*")
        if p.is_file()
    }


def test_every_decoding_flag_reaches_faster_whisper():
    """Each ``asr`` name in the table is a parameter of the faster-whisper call it feeds."""
    from faster_whisper import WhisperModel
    from faster_whisper.vad import VadOptions

    accepted = set(inspect.signature(WhisperModel.transcribe).parameters)
    vad_fields = set(inspect.signature(VadOptions).parameters)
    for flag in JOB_FLAGS:
        if flag.asr and flag.asr.startswith("vad_parameters."):
            assert flag.asr.split(".", 1)[1] in vad_fields, flag.name
        elif flag.asr:
            assert flag.asr in accepted, flag.name
    kwargs = asr_kwargs(JobSettings(vad=True, temperature=(0.0, 0.5), vad_min_silence_ms=300,
                                    hallucination_silence_threshold=1.0))  # fmt: skip
    assert kwargs["vad_parameters"]["min_silence_duration_ms"] == 300
    assert kwargs["temperature"] == [0.0, 0.5]
    assert kwargs["word_timestamps"] is True  # the silence filter needs word timestamps
    assert "vad_parameters" not in asr_kwargs(JobSettings())


def test_cli_and_manifest_fields_come_from_the_table():
    from swbatch.cli import Cli

    for command in (Cli.run, Cli.transcribe):
        params = inspect.signature(command).parameters
        assert list(params)[2:] == [f.name for f in FLAGS]
        assert all(f"  {f.name}: " in command.__doc__ for f in FLAGS)
    assert {f.name for f in JOB_FLAGS} == set(JobSettings.__dataclass_fields__)
    assert not BY_NAME["device"].per_job and BY_NAME["beam_size"].per_job


def test_prompt_and_hotwords_are_recorded_and_change_decoding(tmp_path, spoken, demo_env):
    plain = root_with(tmp_path / "plain", spoken)
    transcribe(plain, demo_env, "--formats", "json")
    base_text = " ".join(s["text"] for s in doc_of(plain)["segments"])
    prompt = "A message for Doctor Smythe, from the office."
    for flag, value in (("--initial-prompt", prompt), ("--hotwords", "Smythe, Doctor")):
        root = root_with(tmp_path / flag, spoken)
        transcribe(root, demo_env, "--formats", "json", flag, value)
        doc = doc_of(root)
        assert doc["options"][flag[2:].replace("-", "_")] == value  # kept as typed, comma included
        text = " ".join(s["text"] for s in doc["segments"])
        assert text != base_text and "Smythe" in text, (base_text, text)
    assert "Smythe" not in base_text


def test_thresholds_and_vad_fields_are_recorded(tmp_path, spoken, demo_env):
    root = root_with(tmp_path, spoken)
    transcribe(root, demo_env, "--formats", "json", "--temperature", "0,0.4",
               "--no-condition-on-previous-text", "--no-speech-threshold", "0.9",
               "--log-prob-threshold", "-0.5", "--compression-ratio-threshold", "3",
               "--hallucination-silence-threshold", "1.5", "--vad", "--vad-threshold", "0.4",
               "--vad-min-silence-ms", "300", "--vad-speech-pad-ms", "100")  # fmt: skip
    doc = doc_of(root)
    assert {k: doc["options"][k] for k in (
        "temperature", "condition_on_previous_text", "no_speech_threshold", "log_prob_threshold",
        "compression_ratio_threshold", "hallucination_silence_threshold", "vad", "vad_threshold",
        "vad_min_silence_ms", "vad_speech_pad_ms", "word_timestamps")} == {
        "temperature": [0.0, 0.4], "condition_on_previous_text": False,
        "no_speech_threshold": 0.9, "log_prob_threshold": -0.5,
        "compression_ratio_threshold": 3.0, "hallucination_silence_threshold": 1.5, "vad": True,
        "vad_threshold": 0.4, "vad_min_silence_ms": 300, "vad_speech_pad_ms": 100,
        "word_timestamps": True,
    }  # fmt: skip
    assert doc["segments"] and all(s["words"] for s in doc["segments"])  # the filter's words


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--beam-size", "0"], "--beam-size: must be a whole number >= 1"),
        (["--temperature", "1.5"], "--temperature: must be between 0.0 and 1.0"),
        (["--temperature", "warm"], "--temperature: must be numbers between 0 and 1"),
        (["--vad-threshold", "high"], "--vad-threshold: must be a number"),
        (["--no-speech-threshold", "2"], "--no-speech-threshold: must be between 0.0 and 1.0"),
        (["--vad-min-silence-ms", "-1"], "--vad-min-silence-ms: must be a whole number >= 0"),
        (["--max-line-width", "0"], "--max-line-width: must be a whole number >= 1"),
        (["--min-speakers", "3", "--max-speakers", "2"], "--min-speakers 3 is more than"),
        (["--initial-prompt"], "--initial-prompt needs a value"),
    ],
)
def test_bad_values_are_one_line_before_any_audio(tmp_path, spoken, demo_env, flags, message):
    root = root_with(tmp_path, spoken)
    res = run_cli(["transcribe", "--root", str(root), *flags], demo_env)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"swbatch: error: {message}")
    assert not (root / ".swbatch").exists() and not (root / "whisper_json").exists()


def test_manifest_fields_are_checked_like_flags(tmp_path, spoken, demo_env):
    manifest = tmp_path / "jobs.yaml"
    (tmp_path / "a.wav").write_bytes(spoken.read_bytes())
    manifest.write_text(
        "defaults: {temperature: [0, 2], beam_size: 2}\n"
        "jobs:\n  - {audio: a.wav, hotwords: '', vad_threshold: 0.3, max_line_count: 0}\n"
        "  - {audio: a.wav, output: b, initial_prompt: 'Doctor Smythe.', temperature: 0.2}\n"
    )
    res = run_cli(["run", str(manifest), "--model", "demo"], demo_env)
    assert res.returncode == 2 and "(3 problems)" in res.stderr
    for needle in ("defaults.temperature: must be between 0.0 and 1.0",
                   "jobs[0].hotwords: must be a non-empty text",
                   "jobs[0].max_line_count: must be a whole number >= 1"):  # fmt: skip
        assert needle in res.stderr
    fixed = manifest.read_text().replace("[0, 2]", "[0, 0.6]").replace("count: 0", "count: 2")
    manifest.write_text(fixed.replace("hotwords: ''", "hotwords: Smythe"))
    res = run_cli(["run", str(manifest), "--model", "demo", "--formats", "json"], demo_env)
    assert res.returncode == 0, res.stderr
    first = json.loads((tmp_path / "out" / "whisper_json" / "a.wav.json").read_text())
    second = json.loads((tmp_path / "out" / "whisper_json" / "b.json").read_text())
    assert first["options"]["temperature"] == [0.0, 0.6] and first["options"]["beam_size"] == 2
    assert first["options"]["hotwords"] == "Smythe" and first["options"]["vad"] is False
    assert second["options"]["temperature"] == [0.2]
    assert second["options"]["initial_prompt"] == "Doctor Smythe."


def test_subtitle_layout_and_tsv_on_a_real_transcript(tmp_path, spoken, demo_env):
    root = root_with(tmp_path, spoken)
    transcribe(root, demo_env, "--formats", "json,srt,vtt,tsv", "--max-line-width", "24",
               "--max-line-count", "2", "--word-timestamps")  # fmt: skip
    doc = doc_of(root)
    words = [w["word"].strip() for s in doc["segments"] for w in s["words"]]
    out = root / "transcripts"
    srt = pysrt.open(str(out / "a.wav.srt"))
    vtt = webvtt.read(str(out / "a.wav.vtt"))
    for cues in (srt, vtt):
        lines = [ln for c in cues for ln in c.text.split("\n")]
        assert max(map(len, lines)) <= 24 and all(len(c.text.split("\n")) <= 2 for c in cues)
        assert " ".join(lines).split() == words
    assert len(srt) > 1  # a one-line sentence of ~65 characters needs more than one cue
    rows = list(csv.reader((out / "a.wav.tsv").open(), delimiter="\t"))
    assert rows[0] == ["start", "end", "text"]
    assert [(int(r[0]), int(r[1]), r[2]) for r in rows[1:]] == [
        (round(s["start"] * 1000), round(s["end"] * 1000), s["text"]) for s in doc["segments"]
    ]
    assert doc["options"]["max_line_width"] == 24 and doc["options"]["max_line_count"] == 2


def test_reruns_follow_the_settings(tmp_path, spoken, demo_env):
    root = root_with(tmp_path, spoken)
    transcribe(root, demo_env, "--formats", "json,srt")
    first = doc_of(root)
    assert first["fingerprint"].startswith("sha256:") and transcribed(root) == 1

    # an identical rerun writes nothing
    before = snapshot(root)
    res = transcribe(root, demo_env, "--formats", "json,srt")
    assert "0 done, 1 skipped" in res.stdout and transcribed(root) == 0
    assert snapshot(root) == before

    # --dry-run says what a changed beam size would do, and does nothing
    res = transcribe(root, demo_env, "--formats", "json,srt", "--beam-size", "1", "--dry-run")
    assert "redo   a.wav: settings changed: beam_size 5 -> 1" in res.stdout
    assert snapshot(root) == before

    # a changed beam size redoes the job, and says why
    res = transcribe(root, demo_env, "--formats", "json,srt", "--beam-size", "1")
    record = last_record(root)
    assert record["action"] == "redo" and record["reason"] == "settings changed: beam_size 5 -> 1"
    assert "settings changed: beam_size 5 -> 1" in res.stderr and transcribed(root) == 1
    assert doc_of(root)["options"]["beam_size"] == 1

    # adding vtt writes it from the JSON, which is left untouched
    json_path = root / "whisper_json" / "a.wav.json"
    before = (json_path.stat().st_ino, json_path.stat().st_mtime_ns)
    res = transcribe(root, demo_env, "--formats", "json,srt,vtt", "--beam-size", "1")
    assert (json_path.stat().st_ino, json_path.stat().st_mtime_ns) == before
    assert transcribed(root) == 0 and last_record(root)["action"] == "write"
    vtt = webvtt.read(str(root / "transcripts" / "a.wav.vtt"))
    assert " ".join(c.text for c in vtt) == " ".join(s["text"] for s in doc_of(root)["segments"])

    # a new subtitle layout rewrites SRT and VTT from the JSON, still without transcribing
    flags = ["--formats", "json,srt,vtt", "--beam-size", "1", "--max-line-width", "20"]
    transcribe(root, demo_env, *flags)
    record = last_record(root)
    assert transcribed(root) == 0 and record["action"] == "write"
    assert record["reason"] == "subtitle layout changed: max_line_width unset -> 20"
    srt = pysrt.open(str(root / "transcripts" / "a.wav.srt"))
    assert max(len(ln) for c in srt for ln in c.text.split("\n")) <= 20
    assert doc_of(root)["options"]["max_line_width"] == 20
    transcribe(root, demo_env, *flags)
    assert last_record(root)["reason"] == "already done"

    # a format dropped is not a reason to do anything; --overwrite still redoes
    transcribe(root, demo_env, "--formats", "json", "--beam-size", "1")
    assert transcribed(root) == 0 and last_record(root)["reason"] == "already done"
    transcribe(root, demo_env, "--formats", "json", "--beam-size", "1", "--overwrite")
    assert transcribed(root) == 1 and last_record(root)["action"] == "redo"


def test_dry_run_lists_new_done_and_changed_jobs(tmp_path, spoken, demo_env):
    root = root_with(tmp_path, spoken)
    transcribe(root, demo_env, "--formats", "json,txt")
    (root / "raw_audio" / "b.wav").write_bytes(spoken.read_bytes())
    res = transcribe(root, demo_env, "--formats", "json,txt,tsv", "--dry-run")
    assert res.stdout.splitlines() == [
        "write  a.wav: formats added: tsv",
        "run    b.wav: new",
        "swbatch: dry run: 1 to run, 0 to redo, 0 to enrich, 1 to write, 0 to skip",
    ]
    assert not (root / "whisper_json" / "b.wav.json").exists()
    res = transcribe(root, demo_env, "--language", "en", "--dry-run")
    assert 'redo   a.wav: settings changed: language unset -> "en"' in res.stdout
