"""Sharded batches: the split (bound, stability, scheduler environments), the shard plan every
shard reads, and N real `swbatch` processes over one folder (one of them killed and rerun, one
seeing a file other than the others saw), merged by `swbatch summary`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import wave
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, SWBATCH, run_cli

from swbatch.errors import UsageError
from swbatch.jobs import JobSettings, discover
from swbatch.plan import ensure_plan, job_seconds, plan_path, read_plan, select, weights
from swbatch.shard import assign, first_choice, parse_shard, shard_from_env
from swbatch.status import read_status

SBATCH = REPO / "deploy" / "slurm" / "swbatch-array.sbatch"


# --- the split --------------------------------------------------------------------------------


def loads_of(owners: list[int], seconds: list[float], count: int) -> list[float]:
    loads = [0.0] * count
    for owner, sec in zip(owners, seconds, strict=True):
        loads[owner] += sec
    return loads


def random_sets():
    """Job sets of many shapes: typical, skewed, one giant file, fewer jobs than shards."""
    rng = random.Random(7)
    for trial in range(60):
        n_jobs = rng.choice([1, 3, 10, 50, 300])
        count = rng.choice([1, 2, 3, 4, 7, 16])
        shape = trial % 3
        seconds = [round(rng.lognormvariate(5, 1.2 if shape else 0.5), 3) for _ in range(n_jobs)]
        if shape == 2:
            seconds[rng.randrange(n_jobs)] = sum(seconds)  # one file as long as all others
        yield [f"d{trial}/f{i:04d}.wav" for i in range(n_jobs)], seconds, count


def test_split_stays_within_the_stated_bound():
    """No shard gets more than total/COUNT + the longest file, whatever the durations."""
    worst = 0.0
    for ids, seconds, count in random_sets():
        owners = assign(ids, seconds, count)
        assert all(0 <= o < count for o in owners)
        loads = loads_of(owners, seconds, count)
        bound = sum(seconds) / count + max(seconds)
        assert max(loads) <= bound + 1e-6, (count, loads, bound)
        worst = max(worst, (max(loads) - sum(seconds) / count) / max(seconds))
    assert worst <= 1.0


def test_split_balances_hours_not_file_counts():
    """Half the files are 10x longer: shards get equal hours, so unequal numbers of files."""
    ids = [f"f{i:03d}.wav" for i in range(400)]
    seconds = [600.0 if i % 2 else 60.0 for i in range(400)]
    loads = loads_of(assign(ids, seconds, 8), seconds, 8)
    mean = sum(seconds) / 8
    assert max(loads) <= mean + 600 / 2 + 1e-6  # the capacity rule: mean + longest/2
    assert min(loads) >= mean - 600 * 2


def test_split_is_deterministic_and_independent_of_listing_order():
    rng = random.Random(3)
    ids = [f"x/{i}.wav" for i in range(500)]
    seconds = [round(rng.uniform(1, 900), 3) for _ in ids]
    owners = dict(zip(ids, assign(ids, seconds, 6), strict=True))
    order = list(range(500))
    rng.shuffle(order)
    shuffled = assign([ids[i] for i in order], [seconds[i] for i in order], 6)
    assert {ids[i]: s for i, s in zip(order, shuffled, strict=True)} == owners


def test_adding_files_moves_few_existing_jobs():
    """Stability: 10% more files move about 1% of the existing jobs (we allow 3%); a new shard
    count moves about 1/COUNT of them, as rendezvous hashing does (we allow 15%)."""
    rng = random.Random(11)
    ids = [f"corpus/{i:05d}.wav" for i in range(2000)]
    seconds = [round(rng.lognormvariate(5, 0.8), 3) for _ in ids]
    before = assign(ids, seconds, 10)
    more = [f"corpus/new{i:04d}.wav" for i in range(200)]
    after = assign(ids + more, seconds + [round(rng.lognormvariate(5, 0.8), 3) for _ in more], 10)
    moved = sum(a != b for a, b in zip(before, after, strict=False)) / len(ids)
    resized = assign(ids, seconds, 11)
    moved_resize = sum(a != b for a, b in zip(before, resized, strict=True)) / len(ids)
    print(f"adding 10% files moved {moved:.1%}; 10 -> 11 shards moved {moved_resize:.1%}")
    assert moved <= 0.03
    assert moved_resize <= 0.15


def test_durations_come_from_headers(tmp_path, speech_files):
    from speech import convert

    wav = next(iter(speech_files.values()))
    with wave.open(str(wav)) as w:
        expected = w.getnframes() / w.getframerate()
    assert job_seconds(wav) == pytest.approx(expected, abs=1e-6)
    flac = convert(wav, tmp_path / "a.flac")
    assert job_seconds(flac) == pytest.approx(expected, abs=0.1)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 10)
    assert job_seconds(junk) is None
    assert job_seconds(tmp_path / "absent.wav") is None
    assert weights([2.0, None, 4.0]) == [2.0, 3.0, 4.0]  # unknown: the mean of the known


# --- INDEX/COUNT and the schedulers' environments ------------------------------------------------


def test_parse_shard():
    assert str(parse_shard("2/8")) == "2/8"
    assert str(parse_shard(" 0 / 1 ")) == "0/1"
    for bad in ("8/8", "-1/4", "1/0", "1", "a/b", "1/4/2"):
        with pytest.raises(UsageError):
            parse_shard(bad)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"SWBATCH_SHARD": "3/5"}, "3/5"),
        ({"JOB_COMPLETION_INDEX": "2", "SWBATCH_SHARD_COUNT": "4"}, "2/4"),
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, "3/4"),
        # --array=1-8: task ids 1..8 are shards 0..7
        (
            {
                "SLURM_ARRAY_TASK_ID": "1",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_COUNT": "8",
            },
            "0/8",
        ),
        # --array=0-14:2 -> ids 0,2,..14 are shards 0..7
        (
            {
                "SLURM_ARRAY_TASK_ID": "6",
                "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_STEP": "2",
                "SLURM_ARRAY_TASK_COUNT": "8",
            },
            "3/8",
        ),
        # a rerun of ids 3 and 5 of an 8-shard array: the pinned count makes the id the index
        (
            {
                "SLURM_ARRAY_TASK_ID": "5",
                "SLURM_ARRAY_TASK_MIN": "3",
                "SLURM_ARRAY_TASK_COUNT": "2",
                "SWBATCH_SHARD_COUNT": "8",
            },
            "5/8",
        ),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "9", "AWS_BATCH_JOB_ARRAY_SIZE": "10"}, "9/10"),
    ],
)
def test_shard_from_scheduler_env(env, expected):
    shard = shard_from_env(env)
    assert (str(shard) if shard else None) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOB_COMPLETION_INDEX": "1"}, "SWBATCH_SHARD_COUNT"),
        ({"JOB_COMPLETION_INDEX": "4", "SWBATCH_SHARD_COUNT": "4"}, "outside 0..3"),
        (
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_STEP": "2",
                "SLURM_ARRAY_TASK_COUNT": "4",
            },
            "not on the range",
        ),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "x"}, "whole number"),
        ({"SWBATCH_SHARD": "1-4"}, "INDEX/COUNT"),
    ],
)
def test_bad_scheduler_env_is_a_clear_error(env, message):
    with pytest.raises(UsageError, match=message):
        shard_from_env(env)


def test_cli_rejects_bad_shards_with_one_line(tmp_path, clean_env):
    (tmp_path / "raw_audio").mkdir()
    res = run_cli(["transcribe", "--root", str(tmp_path), "--shard", "4/4"], clean_env)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "swbatch: error: --shard: shard index 4 is outside 0..3 (it counts from 0)"
    ]
    res = run_cli(["transcribe", "--root", str(tmp_path)],
                  {**clean_env, "JOB_COMPLETION_INDEX": "0"})  # fmt: skip
    assert res.returncode == 2
    assert "SWBATCH_SHARD_COUNT" in res.stderr and "Traceback" not in res.stderr


# --- N real processes over one folder ---------------------------------------------------------


def concat_wav(dest: Path, parts: list[Path]) -> Path:
    """One WAV made of espeak-ng sentences back to back (they share one format)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(parts[0])) as first:
        params = first.getparams()
    with wave.open(str(dest), "wb") as out:
        out.setparams(params)
        for part in parts:
            with wave.open(str(part)) as w:
                out.writeframes(w.readframes(w.getnframes()))
    return dest


def make_corpus(root: Path, speech_files: dict[str, Path], n: int) -> dict[str, float]:
    """``n`` files of 1-3 sentences (about 2.5-10 s) under root/raw_audio: {job id: seconds}."""
    wavs = list(speech_files.values())
    seconds = {}
    for i in range(n):
        rel = f"{'sub/' if i % 4 == 0 else ''}clip{i:02d}.wav"
        parts = [wavs[(i + k) % len(wavs)] for k in range(1 + (i * 7) % 3)]
        path = concat_wav(root / "raw_audio" / rel, parts)
        with wave.open(str(path)) as w:
            seconds[rel] = w.getnframes() / w.getframerate()
    return seconds


def shard_commands(root: Path, env: dict[str, str], count: int) -> list[tuple[list[str], dict]]:
    """One launch per shard, each the way a scheduler would start it: the flag, a Kubernetes
    Indexed Job's env, this repo's Slurm array script (run by bash), an AWS Batch array's env."""
    base = ["transcribe", "--root", str(root), "--model", "demo", "--workers", "1", "--quiet"]
    launches = []
    for index in range(count):
        style = index % 4
        if style == 0:
            launches.append(([*SWBATCH, *base, "--shard", f"{index}/{count}"], env))
        elif style == 1:
            k8s = {"JOB_COMPLETION_INDEX": str(index), "SWBATCH_SHARD_COUNT": str(count)}
            launches.append(([*SWBATCH, *base], {**env, **k8s}))
        elif style == 2:
            slurm = {"SLURM_ARRAY_TASK_ID": str(index), "SHARDS": str(count), "DATA": str(root),
                     "DEVICE": "cpu", "SWBATCH": " ".join(SWBATCH)}  # fmt: skip
            launches.append((["bash", str(SBATCH), "--model", "demo", "--workers", "1", "--quiet"],
                             {**env, **slurm}))  # fmt: skip
        else:
            aws = {"AWS_BATCH_JOB_ARRAY_INDEX": str(index), "AWS_BATCH_JOB_ARRAY_SIZE": str(count)}
            launches.append(([*SWBATCH, *base], {**env, **aws}))
    return launches


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def owners_of(root: Path, count: int) -> dict[str, str]:
    """Who runs what, from the plan the shards published: {job id: "INDEX/COUNT"}."""
    batch = discover(root, JobSettings())
    plan = read_plan(root, count)
    assert plan is not None, f"no shard plan in {plan_path(root, count)}"
    return {j.id: f"{plan.owner(j.id)}/{count}" for j in batch.jobs}


def summary_json(root: Path, env: dict[str, str]) -> tuple[int, dict]:
    res = run_cli(["summary", str(root), "--json"], env)
    assert res.stderr == "", res.stderr
    return res.returncode, json.loads(res.stdout)


def test_concurrent_shards_transcribe_every_file_once(tmp_path, speech_files, demo_env):
    count = 4
    root = tmp_path / "corpus"
    seconds = make_corpus(root, speech_files, 24)
    procs = [start(cmd, env) for cmd, env in shard_commands(root, demo_env, count)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    records = read_status(root)
    done = Counter(r["id"] for r in records if r["state"] == "done")
    assert set(done) == set(seconds), "the union of the shards is the whole batch"
    assert set(done.values()) == {1}, "every file transcribed exactly once"
    owners = owners_of(root, count)
    assert all(r["shard"] == owners[r["id"]] for r in records), "each shard ran only its own"
    for rel in seconds:
        assert json.loads((root / "whisper_json" / f"{rel}.json").read_text())["segments"]

    loads = Counter()
    for rel, shard in owners.items():
        loads[shard] += seconds[rel]
    total, longest = sum(seconds.values()), max(seconds.values())
    print(f"shard audio seconds {dict(sorted(loads.items()))}; mean {total / count:.1f}, "
          f"bound {total / count + longest:.1f}")  # fmt: skip
    assert len(loads) == count
    assert max(loads.values()) <= total / count + longest

    rc, report = summary_json(root, demo_env)
    assert rc == 0 and report["complete"]
    assert (report["jobs"], report["done"], report["failed"], report["missing"]) == (24, 24, 0, 0)
    assert report["shard_count"] == count
    assert report["audio_hours"] == pytest.approx(total / 3600, rel=0.01)
    assert [s["shard"] for s in report["shards"]] == [f"{i}/{count}" for i in range(count)]
    for row in report["shards"]:
        assert row["state"] == "finished" and row["wall_seconds"] > 0
        assert row["audio_hours"] == pytest.approx(loads[row["shard"]] / 3600, rel=0.01)
    assert report["transcribed_more_than_once"] == []


def test_killed_shard_rerun_finishes_only_its_own_jobs(tmp_path, speech_files, demo_env):
    count = 3
    root = tmp_path / "corpus"
    seconds = make_corpus(root, speech_files, 21)
    broken = root / "raw_audio" / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(2000))
    res = run_cli(["plan", str(root), "--shards", str(count), "--json"], demo_env)
    assert res.returncode == 0, res.stderr
    planned = json.loads(res.stdout)
    assert planned["created_now"] and planned["jobs"] == 22 and planned["unplanned_jobs"] == []
    owners = owners_of(root, count)
    assert Counter(owners.values()) == {r["shard"]: r["jobs"] for r in planned["per_shard"]}
    mine = Counter(o for rel, o in owners.items() if rel != "broken.wav")
    victim = max((s for s in mine if s != owners["broken.wav"]), key=mine.__getitem__)
    assert mine[victim] >= 3, "the killed shard needs a few jobs for the kill to land mid-way"

    launches = shard_commands(root, demo_env, count)
    procs = {f"{i}/{count}": start(cmd, env) for i, (cmd, env) in enumerate(launches)}
    deadline = time.time() + 240
    while time.time() < deadline and not any(
        r["state"] == "done" and r["shard"] == victim for r in read_status(root)
    ):
        time.sleep(0.05)
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].communicate()
    for shard, proc in procs.items():
        if shard != victim:
            _out, err = proc.communicate(timeout=300)
            assert proc.returncode == (1 if shard == owners["broken.wav"] else 0), err

    first = read_status(root)
    done_before = {r["id"] for r in first if r["state"] == "done"}
    theirs = {rel for rel, o in owners.items() if o == victim}
    assert 0 < len(done_before & theirs) < len(theirs), "the kill should land mid-shard"

    rc, report = summary_json(root, demo_env)
    assert rc == 1 and not report["complete"]
    missing = {m["id"] for m in report["missing_jobs"]}
    assert missing == theirs - done_before
    assert {m["shard"] for m in report["missing_jobs"]} == {victim}
    assert report["failed"] == 1 and report["failures"][0]["id"] == "broken.wav"
    assert (
        report["failures"][0]["reason"] and report["failures"][0]["shard"] == owners["broken.wav"]
    )
    assert report["done"] == len(seconds) - len(missing)
    rows = {s["shard"]: s for s in report["shards"]}
    assert rows[victim]["summary_file"] is None and rows[victim]["missing"] == len(missing)
    text = run_cli(["summary", str(root)], demo_env)
    assert text.returncode == 1 and f"rerun shard(s): {victim}" in text.stdout
    assert "broken.wav: " in text.stdout

    written = {rel for rel in missing if (root / "whisper_json" / f"{rel}.json").exists()}
    cmd, env = launches[int(victim.split("/")[0])]
    res = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rerun = read_status(root)[len(first) :]
    assert {r["shard"] for r in rerun} == {victim}, "the rerun touched only its own shard"
    assert {r["id"] for r in rerun if r["state"] == "done"} == missing - written
    assert {r["id"] for r in rerun if r["state"] == "skipped"} == (theirs - missing) | written

    done = Counter(r["id"] for r in read_status(root) if r["state"] == "done")
    assert set(done) | written == set(seconds) and set(done.values()) == {1}
    rc, report = summary_json(root, demo_env)
    assert rc == 1, "broken.wav still failed"
    assert (report["done"], report["failed"], report["missing"]) == (21, 1, 0)
    assert report["audio_hours"] == pytest.approx(sum(seconds.values()) / 3600, rel=0.02)


# --- the shard plan ------------------------------------------------------------------------------


def test_shards_starting_together_publish_one_plan(tmp_path, speech_files, clean_env):
    """Four `swbatch plan` processes at once: exactly one plan is made, all four print it."""
    root = tmp_path / "corpus"
    make_corpus(root, speech_files, 40)
    cmd = [*SWBATCH, "plan", str(root), "--shards", "4", "--json"]
    procs = [start(cmd, clean_env) for _ in range(4)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sum(r["created_now"] for r in results) == 1
    assert len({json.dumps(r["per_shard"]) for r in results}) == 1
    assert sum(row["jobs"] for row in results[0]["per_shard"]) == 40
    assert sorted(p.name for p in (root / ".swbatch").iterdir()) == ["plan-4.json"]
    text = run_cli(["plan", str(root), "--shards", "4"], clean_env)
    assert text.returncode == 0 and text.stdout.startswith(f"shard plan {root}/.swbatch/plan-4")
    assert "40 jobs, 4 shards" in text.stdout


def test_files_added_after_the_plan_move_no_planned_job(tmp_path, speech_files):
    """Planned jobs keep their shard; new ones go to one shard each, the same from every shard."""
    root = tmp_path / "corpus"
    make_corpus(root, speech_files, 12)
    plan, created = ensure_plan(discover(root, JobSettings()), 3)
    assert created and len(plan.shards) == 12
    saved = plan_path(root, 3).read_bytes()
    wavs = list(speech_files.values())
    for i in range(8):
        concat_wav(root / "raw_audio" / "late" / f"new{i}.wav", wavs[i % len(wavs) :][:2])
    batch = discover(root, JobSettings())
    parts = {i: [job.id for job in select(batch, f"{i}/3").jobs] for i in range(3)}
    owner = {job_id: i for i, ids in parts.items() for job_id in ids}
    assert sum(map(len, parts.values())) == len(owner) == 20, "each job in exactly one shard"
    assert {job_id: owner[job_id] for job_id in plan.shards} == plan.shards
    late = [job.id for job in batch.jobs if job.id.startswith("late/")]
    assert [owner[j] for j in late] == [first_choice(j, 3) for j in late]
    assert len({owner[j] for j in late}) > 1, "late files spread over the shards"
    assert plan_path(root, 3).read_bytes() == saved, "the plan itself never changes"


def test_a_probe_that_fails_on_the_first_shard_changes_nothing(tmp_path, speech_files, demo_env):
    """The first shard's duration probe of one file fails (the file is still being copied in: a
    header cut short), the later shards' probes succeed. Each computing the split alone would
    disagree; with the plan every file is still done exactly once, by the plan's shard."""
    count = 3
    root = tmp_path / "corpus"
    seconds = make_corpus(root, speech_files, 12)
    ids = sorted(seconds)

    def unknown_weight(rel: str) -> float:
        """What a file whose header says nothing weighs: the mean of the others."""
        return round(sum(v for k, v in seconds.items() if k != rel) / (len(ids) - 1), 3)

    def split_if(rel: str, known: bool) -> list[int]:
        sec = {**seconds, rel: seconds[rel] if known else unknown_weight(rel)}
        return assign(ids, [round(sec[i], 3) for i in ids], count)

    # a file whose unknown duration changes the split, and that shard 0 does not get either way
    # (so shard 0 never opens the half-copied file)
    copying = next((
        r for r in ids
        if split_if(r, False) != split_if(r, True)
        and 0 not in (split_if(r, False)[ids.index(r)], split_if(r, True)[ids.index(r)])
    ), None)  # fmt: skip
    assert copying, "some file's unknown duration must change the split for this test to bite"
    whole = (root / "raw_audio" / copying).read_bytes()
    (root / "raw_audio" / copying).write_bytes(whole[:30])
    assert job_seconds(root / "raw_audio" / copying) is None, "the probe fails for real"

    launches = shard_commands(root, demo_env, count)
    first = start(*launches[0])
    plan_file = plan_path(root, count)
    deadline = time.time() + 120
    while not plan_file.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert plan_file.exists(), first.communicate()[1]
    copied = tmp_path / "copied.wav"
    copied.write_bytes(whole)
    os.replace(copied, root / "raw_audio" / copying)  # the copy completes
    later = [start(*launch) for launch in launches[1:]]
    for proc in [first, *later]:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    plan = read_plan(root, count)
    assert plan.seconds[copying] == unknown_weight(copying), "planned without its duration"
    probed_now = weights([job_seconds(root / "raw_audio" / rel) for rel in ids])
    assert assign(ids, probed_now, count) != [plan.shards[rel] for rel in ids], (
        "the later shards' own probes give another split"
    )
    records = read_status(root)
    done = Counter(r["id"] for r in records if r["state"] == "done")
    assert set(done) == set(ids) and set(done.values()) == {1}, "every file exactly once"
    owners = owners_of(root, count)
    assert all(r["shard"] == owners[r["id"]] for r in records), "each shard ran the plan's jobs"
    rc, report = summary_json(root, demo_env)
    assert rc == 0 and (report["done"], report["missing"]) == (12, 0)


def test_a_damaged_plan_stops_the_shard_with_one_line(tmp_path, speech_files, clean_env):
    concat_wav(tmp_path / "raw_audio" / "a.wav", list(speech_files.values())[:1])
    plan = plan_path(tmp_path, 2)
    plan.parent.mkdir()
    plan.write_text('{"version": 1, "shards": 2, "jobs": {"a.wav": {"sha')
    res = run_cli(["transcribe", "--root", str(tmp_path), "--shard", "1/2"], clean_env)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read the shard plan" in lines[0], res.stderr
    assert "delete it to plan afresh" in lines[0]
    assert plan.read_text().endswith('"sha'), "the damaged plan is left for the user to see"
    assert not (tmp_path / "whisper_json").exists(), "nothing ran"
