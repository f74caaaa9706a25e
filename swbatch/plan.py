"""The shard plan: who runs what, decided once per batch and shard count, read by every shard.

Computing the split in every task is only safe while every task reads the same durations. On
shared storage that fails in real life: a transient NFS error on one node, a file still being
copied in, a file replaced between two tasks' starts. Each of those gives one task other weights,
so the tasks' splits differ and files are run twice or never. So the first task to start (or
``swbatch plan --shards N`` ahead of the run) probes the headers, computes the split
(:func:`swbatch.shard.assign`) and publishes it as ``OUTPUT/.swbatch/plan-<N>.json``; every other
task reads that file and probes nothing.

Publishing is atomic and exclusive: the plan is written to a temporary file and hard-linked to its
final name, which fails when the name exists, so when several tasks start at once exactly one
plan wins and the others read it. Jobs the plan does not know (files added after it was made) go
to the first shard of their own rendezvous preference (:func:`swbatch.shard.first_choice`): a
function of the job id and the count alone, so every task agrees without probing, and no planned
job ever moves.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import UsageError
from .fsutil import write_once
from .jobs import Batch, Job
from .shard import Shard, assign, first_choice, parse_shard
from .status import STATE_DIR
from .target import load_batch

#: plan format version, bumped only if the file's meaning changes
VERSION = 1
#: how long a reader waits for a plan another task is still writing (the no-hard-link fallback)
READ_WAIT_SECONDS = 10.0


# --- durations ----------------------------------------------------------------------------------


def job_seconds(path: Path) -> float | None:
    """A file's duration from its header alone; None when the header does not say."""
    from .audio import probe_duration, wav_declared_seconds

    try:
        wav = wav_declared_seconds(path)
    except OSError:
        return None
    if wav is not None:
        return wav[1]
    return probe_duration(path) if path.is_file() else None


def probe_durations(jobs: Sequence[Job], threads: int = 8) -> list[float | None]:
    """Header durations of many files; threads because on network storage each is a round trip."""
    if len(jobs) < 16:
        return [job_seconds(job.audio) for job in jobs]
    with ThreadPoolExecutor(threads, thread_name_prefix="swbatch-probe") as pool:
        return list(pool.map(job_seconds, [job.audio for job in jobs]))


def weights(durations: Sequence[float | None]) -> list[float]:
    """Durations rounded to milliseconds; unknowns get the mean of the known ones."""
    known = [d for d in durations if d is not None and d >= 0]
    fill = sum(known) / len(known) if known else 1.0
    return [round(d if d is not None and d >= 0 else fill, 3) for d in durations]


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Shard index and planned seconds per job id, for one shard count."""

    count: int
    shards: dict[str, int]
    seconds: dict[str, float]
    created: str = ""
    host: str = ""

    def owner(self, job_id: str) -> int:
        """The shard of a job: the planned one, else its first rendezvous choice."""
        planned = self.shards.get(job_id)
        return planned if planned is not None else first_choice(job_id, self.count)

    def owners(self, batch: Batch) -> list[int]:
        return [self.owner(job.id) for job in batch.jobs]

    def unplanned(self, batch: Batch) -> list[str]:
        return [job.id for job in batch.jobs if job.id not in self.shards]

    def as_dict(self) -> dict:
        return {
            "version": VERSION,
            "shards": self.count,
            "created": self.created,
            "host": self.host,
            "jobs": {
                job_id: {"shard": shard, "seconds": self.seconds[job_id]}
                for job_id, shard in sorted(self.shards.items())
            },
        }


def plan_path(output_dir: Path, count: int) -> Path:
    return output_dir / STATE_DIR / f"plan-{count}.json"


def make_plan(batch: Batch, count: int) -> Plan:
    """Probe every job's header and split the batch (the only step that reads the audio)."""
    ids = [job.id for job in batch.jobs]
    seconds = weights(probe_durations(batch.jobs))
    owners = assign(ids, seconds, count)
    return Plan(
        count,
        dict(zip(ids, owners, strict=True)),
        dict(zip(ids, seconds, strict=True)),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        host=socket.gethostname(),
    )


def read_plan(output_dir: Path, count: int) -> Plan | None:
    """The published plan for ``count`` shards, or None when there is none yet.

    A plan that stays unreadable for :data:`READ_WAIT_SECONDS` is an error, never a reason to
    split anew: that could give this task other jobs than the plan gives the others.
    """
    path = plan_path(output_dir, count)
    deadline = time.monotonic() + READ_WAIT_SECONDS
    while True:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            problem = exc.strerror or str(exc)
        else:
            try:
                return _parse(json.loads(text), count)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                problem = f"not a valid plan ({exc})"
        if time.monotonic() > deadline:
            raise UsageError(
                f"cannot read the shard plan {path}: {problem}; when no shard of this batch is "
                "running, delete it to plan afresh"
            )
        time.sleep(0.2)  # another task may still be writing it (filesystems without hard links)


def _parse(data: dict, count: int) -> Plan:
    if data.get("version") != VERSION or data.get("shards") != count:
        raise ValueError(f"version {data.get('version')}, {data.get('shards')} shards")
    jobs = data["jobs"]
    shards = {str(k): int(v["shard"]) for k, v in jobs.items()}
    if any(not 0 <= s < count for s in shards.values()):
        raise ValueError("a shard index is out of range")
    seconds = {str(k): float(v["seconds"]) for k, v in jobs.items()}
    return Plan(count, shards, seconds, str(data.get("created", "")), str(data.get("host", "")))


def ensure_plan(batch: Batch, count: int) -> tuple[Plan, bool]:
    """The batch's plan for ``count`` shards: (plan, whether this call created it).

    When several tasks race here, each may compute a plan, but only one is published; every
    task returns the published one.
    """
    existing = read_plan(batch.output_dir, count)
    if existing is not None:
        return existing, False
    plan = make_plan(batch, count)
    if _publish(plan_path(batch.output_dir, count), plan):
        return plan, True
    published = read_plan(batch.output_dir, count)
    if published is None:  # published, then deleted by hand before we could read it
        raise UsageError(f"the shard plan {plan_path(batch.output_dir, count)} vanished; rerun")
    return published, False


def _publish(path: Path, plan: Plan) -> bool:
    """Create ``path`` with the plan unless it exists: True when this plan is the one there."""
    text = json.dumps(plan.as_dict(), indent=1, ensure_ascii=False) + "\n"
    try:
        return write_once(path, text)
    except OSError as exc:
        raise UsageError(
            f"cannot write the shard plan {path}: {exc.strerror or exc}; "
            "the output folder must be writable"
        ) from None


def select(batch: Batch, shard: str | Shard) -> Batch:
    """The part of ``batch`` that shard ``INDEX/COUNT`` runs (jobs keep their order), under the
    batch's plan, which the first shard to get here creates."""
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    if shard.count == 1:
        return batch
    plan, _created = ensure_plan(batch, shard.count)
    return replace(batch, jobs=[job for job in batch.jobs if plan.owner(job.id) == shard.index])


# --- swbatch plan -------------------------------------------------------------------------------


def plan_report(target: Path, count: object, output_dir: Path | None = None) -> dict:
    """``swbatch plan TARGET --shards N [--output DIR]``: the batch's plan, made now unless one
    exists (under ``output_dir``, the batch's ``--output``, when it has one)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"--shards must be a whole number of at least 1, not {count!r}")
    _output_dir, batch = load_batch(target, output_dir)
    if batch is None:
        raise UsageError(
            f"{target} has no job list: pass the folder given to `transcribe --root` or the job "
            "manifest given to `run`"
        )
    plan, created = ensure_plan(batch, count)
    rows = [{"shard": f"{i}/{count}", "jobs": 0, "seconds": 0.0} for i in range(count)]
    for job, owner in zip(batch.jobs, plan.owners(batch), strict=True):
        rows[owner]["jobs"] += 1
        rows[owner]["seconds"] += plan.seconds.get(job.id, 0.0)
    return {
        "plan": str(plan_path(batch.output_dir, count)),
        "created_now": created,
        "created": plan.created,
        "host": plan.host,
        "shards": count,
        "jobs": len(batch.jobs),
        "unplanned_jobs": plan.unplanned(batch),
        "per_shard": [{**row, "seconds": round(row["seconds"], 3)} for row in rows],
    }


def format_plan(data: dict) -> str:
    """The text layout of :func:`plan_report`."""
    made = "made now" if data["created_now"] else f"made {data['created']} on {data['host']}"
    lines = [f"shard plan {data['plan']} ({made}): {data['jobs']} jobs, {data['shards']} shards"]
    lines += [
        f"  {row['shard']:>7}  {row['jobs']} jobs  {row['seconds'] / 3600:.3f} h"
        for row in data["per_shard"]
    ]
    if data["unplanned_jobs"]:
        lines.append(
            f"{len(data['unplanned_jobs'])} job(s) added after the plan go to their first-choice "
            "shard (their hours are not in the table)"
        )
    return "\n".join(lines)
