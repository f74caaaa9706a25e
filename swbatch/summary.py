"""One report for a batch run as many shards: ``swbatch summary DIR``.

Each shard appends to the shared ``.swbatch/status.jsonl`` and writes its own
``.swbatch/summary-<INDEX>-of-<COUNT>.json`` (``summary.json`` for an unsharded run), see
:mod:`swbatch.status`. This module merges them against the batch's job list, so the report says
what the shards' own summaries cannot: which jobs no shard finished (a killed task leaves no
summary at all) and which shard owns them under the shard plan (:mod:`swbatch.plan`), i.e. which
array index to rerun.

A job's state is its last decisive status record (``done`` or ``failed``; ``skipped`` lines only
say that another attempt or process had it): a job that failed and was then redone is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError
from .jobs import Batch
from .plan import make_plan, read_plan
from .status import ALREADY_DONE, STATE_DIR, read_status, read_summaries
from .target import load_batch

#: how many missing jobs / failures the text report lists (the JSON has them all)
TEXT_LIMIT = 20


@dataclass
class ShardReport:
    """What one shard (or the unsharded run, ``"all"``) did, from records and its summary file."""

    shard: str
    done: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    missing: int = 0
    wall_seconds: float | None = None
    host: str | None = None
    finished: str | None = None
    interrupted: bool = False
    summary_file: str | None = None

    @property
    def state(self) -> str:
        if self.summary_file is None:
            return "no summary (killed, still running, or not started)"
        return "interrupted" if self.interrupted else "finished"


@dataclass
class BatchReport:
    """The merged report; :meth:`as_dict` is what ``--json`` prints."""

    output_dir: str
    jobs: int | None
    done: int = 0
    failed: int = 0
    missing: int | None = 0
    audio_seconds: float = 0.0
    shard_count: int | None = None
    transcribed_more_than_once: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    #: done files a person should check, with the reasons (swbatch.review)
    review: list[dict] = field(default_factory=list)
    missing_jobs: list[dict] = field(default_factory=list)
    shards: list[ShardReport] = field(default_factory=list)
    unknown_records: int = 0

    @property
    def complete(self) -> bool:
        return self.jobs is not None and self.done == self.jobs

    @property
    def exit_code(self) -> int:
        """0 when every job is done; 1 when any failed or is missing (scripts can gate on it)."""
        return 0 if self.complete else 1

    def as_dict(self) -> dict:
        return {
            "output_dir": self.output_dir,
            "complete": self.complete,
            "jobs": self.jobs,
            "done": self.done,
            "failed": self.failed,
            "missing": self.missing,
            "audio_seconds": round(self.audio_seconds, 3),
            "audio_hours": round(self.audio_seconds / 3600, 4),
            "shard_count": self.shard_count,
            "shards": [
                {
                    **{k: v for k, v in vars(s).items() if k != "audio_seconds"},
                    "audio_hours": round(s.audio_seconds / 3600, 4),
                    "state": s.state,
                }
                for s in self.shards
            ],
            "failures": self.failures,
            "review": self.review,
            "missing_jobs": self.missing_jobs,
            "transcribed_more_than_once": self.transcribed_more_than_once,
            "records_for_unknown_jobs": self.unknown_records,
        }


# --- merge --------------------------------------------------------------------------------------


def final_records(records: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """Last decisive record per job id, and the ids with more than one ``done`` record.

    A ``skipped`` record with reason "already done" also decides "done": a process killed after a
    job's outputs were written but before its status line leaves only the rerun's skip to say so
    (its audio seconds then come from an earlier ``done`` record, if any).
    """
    final: dict[str, dict] = {}
    last_done: dict[str, dict] = {}
    done_count: dict[str, int] = {}
    for rec in records:
        state = rec.get("state")
        if state == "done":
            last_done[rec["id"]] = rec
            done_count[rec["id"]] = done_count.get(rec["id"], 0) + 1
        if state in ("done", "failed"):
            final[rec["id"]] = rec
        elif state == "skipped" and rec.get("reason") == ALREADY_DONE:
            final[rec["id"]] = last_done.get(rec["id"]) or {**rec, "state": "done"}
    return final, sorted(i for i, n in done_count.items() if n > 1)


def _shard_count(records: list[dict], summaries: dict[str, tuple[str, dict]]) -> int | None:
    """The shard count the batch was run with, when all shards agree on one."""
    counts = {int(s.split("/")[1]) for s in summaries if s != "all"}
    counts |= {int(r["shard"].split("/")[1]) for r in records if r.get("shard")}
    return counts.pop() if len(counts) == 1 else None


def merge(target: Path, output_dir: Path | None = None) -> BatchReport:
    """The merged report of the batch that ``target`` names (see :func:`load_batch`)."""
    return merge_batch(*load_batch(target, output_dir))


def merge_batch(output_dir: Path, batch: Batch | None) -> BatchReport:
    """The merged report of the batch in ``output_dir`` (job list ``batch``, when known)."""
    records = read_status(output_dir)
    summaries = read_summaries(output_dir)
    if not records and not summaries:
        raise UsageError(f"no batch has run in {output_dir} yet (no {STATE_DIR}/status.jsonl)")
    final, twice = final_records(records)
    count = _shard_count(records, summaries)
    report = BatchReport(str(output_dir), len(batch.jobs) if batch else None, shard_count=count)
    report.transcribed_more_than_once = twice
    shards = _shard_table(count, summaries)
    ids = [job.id for job in batch.jobs] if batch else list(final)
    owners = _owners(batch, count)
    for i, job_id in enumerate(ids):
        rec = final.get(job_id)
        if rec is None:
            owner = owners[i] if owners else None
            report.missing_jobs.append({"id": job_id, "audio": str(batch.jobs[i].audio),
                                        "shard": owner})  # fmt: skip
            if owner in shards:
                shards[owner].missing += 1
            continue
        row = shards.setdefault(rec.get("shard") or "all", ShardReport(rec.get("shard") or "all"))
        if rec["state"] == "done":
            report.done += 1
            row.done += 1
            report.audio_seconds += rec.get("audio_seconds") or 0.0
            row.audio_seconds += rec.get("audio_seconds") or 0.0
            if rec.get("review"):
                report.review.append({"id": job_id, "audio": rec.get("audio"),
                                      "reasons": rec["review"]})  # fmt: skip
        else:
            report.failed += 1
            row.failed += 1
            report.failures.append({k: rec.get(k) for k in ("id", "audio", "reason", "shard")})
    report.missing = len(report.missing_jobs) if batch else None
    report.unknown_records = len(set(final) - set(ids))
    report.shards = sorted(shards.values(), key=_shard_order)
    return report


def _shard_table(count: int | None, summaries: dict[str, tuple[str, dict]]) -> dict:
    """A row for every expected shard (0..COUNT-1, so a shard that never ran shows) and every
    summary file, filled with each summary's wall time and host."""
    rows = {f"{i}/{count}": ShardReport(f"{i}/{count}") for i in range(count or 0)}
    for shard, (name, data) in summaries.items():
        row = rows.setdefault(shard, ShardReport(shard))
        row.summary_file = f"{STATE_DIR}/{name}"
        row.wall_seconds = data.get("wall_seconds")
        row.host = data.get("host")
        row.interrupted = bool(data.get("interrupted"))
        started = data.get("started")
        if isinstance(started, (int, float)) and isinstance(row.wall_seconds, (int, float)):
            row.finished = time.strftime(
                "%Y-%m-%dT%H:%M:%S%z", time.localtime(started + row.wall_seconds)
            )
    return rows


def _owners(batch: Batch | None, count: int | None) -> list[str] | None:
    """Which shard owns each job, to name the index to rerun: from the plan the shards ran by
    (``.swbatch/plan-<COUNT>.json``); a batch sharded before plans existed has none, so its
    split is recomputed here (without writing a plan: the report changes nothing)."""
    if batch is None or not count or count == 1:
        return None
    plan = read_plan(batch.output_dir, count) or make_plan(batch, count)
    return [f"{owner}/{count}" for owner in plan.owners(batch)]


def _shard_order(row: ShardReport) -> tuple:
    head = row.shard.split("/")[0]
    return (0, int(head)) if head.isdigit() else (1, row.shard)


# --- text ---------------------------------------------------------------------------------------


def format_report(data: dict) -> str:
    """The text layout of :meth:`BatchReport.as_dict`."""
    jobs = data["jobs"]
    sharded = f", {data['shard_count']} shards" if data["shard_count"] else ""
    head = f"batch {data['output_dir']}: {jobs if jobs is not None else '?'} jobs{sharded}"
    verdict = "complete" if data["complete"] else "INCOMPLETE"
    missing = data["missing"] if data["missing"] is not None else "? (job list unknown)"
    lines = [
        f"{head} -- {verdict}",
        f"  done     {data['done']}  ({data['audio_hours']:.3f} audio hours)",
        f"  failed   {data['failed']}",
        f"  missing  {missing}",
    ]
    if data["transcribed_more_than_once"]:
        lines.append(f"  transcribed more than once: {len(data['transcribed_more_than_once'])}")
    lines.append("shards:")
    for s in data["shards"]:
        wall = f"wall {s['wall_seconds']:.1f} s" if s["wall_seconds"] is not None else "wall -"
        extra = f"  missing {s['missing']}" if s["missing"] else ""
        lines.append(
            f"  {s['shard']:>7}  done {s['done']}  failed {s['failed']}{extra}  "
            f"{s['audio_hours']:.3f} h  {wall}  {s['host'] or ''}  {s['state']}".rstrip()
        )
    lines += _listed("failures", data["failures"], lambda f: f"{f['id']}: {f['reason']}")
    lines += _listed("check", data["review"], lambda r: f"{r['id']}: {', '.join(r['reasons'])}")
    rerun = sorted({m["shard"] for m in data["missing_jobs"] if m["shard"]}, key=_index_of)
    if rerun:
        lines.append("rerun shard(s): " + ", ".join(rerun))
    lines += _listed(
        "missing", data["missing_jobs"],
        lambda m: m["id"] + (f"  (shard {m['shard']})" if m["shard"] else ""),
    )  # fmt: skip
    return "\n".join(lines)


def _index_of(shard: str) -> int:
    return int(shard.split("/")[0])


def _listed(title: str, items: list[dict], line) -> list[str]:
    if not items:
        return []
    out = [f"{title}:"] + [f"  {line(item)}" for item in items[:TEXT_LIMIT]]
    if len(items) > TEXT_LIMIT:
        out.append(f"  ... and {len(items) - TEXT_LIMIT} more (--json lists them all)")
    return out
