"""``swbatch report``: a batch as one self-contained HTML page that opens offline.

The page is for the person who ran the batch: what failed and why (and the command that reruns
it), which transcripts to check by ear, how fast it went, and each file's transcript beside its
audio. This module gathers the data: the merged view of :mod:`swbatch.summary` (every shard's
record against the job list), each job's last status line, and each finished job's JSON, which is
read once here and cut down to what the page shows (:mod:`swbatch.report_page` does the cutting
and the HTML). It reads and never changes the batch; the page is written atomically.

Audio and transcripts that stay outside the page are linked by paths relative to the page, so a
report opened from the batch's folder (or a copy of the whole tree) finds them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from .errors import UsageError
from .jobs import Batch
from .status import STATE_DIR, read_status, read_summaries
from .summary import final_records, merge_batch
from .version import __version__

#: where the page goes, relative to the batch's output folder (beside summary.json)
REPORT_NAME = f"{STATE_DIR}/report.html"
#: the state a job is in, as the page's table shows it
STATES = ("done", "failed", "interrupted", "missing")


def write_report(output_dir: Path, batch: Batch | None, target: Path | None = None,
                 embed_bytes: int | None = None) -> Path:  # fmt: skip
    """Build the page of the batch in ``output_dir`` and write it atomically to ``target``
    (default: :data:`REPORT_NAME` in the output folder), embedding up to ``embed_bytes`` of
    transcripts (default :data:`swbatch.report_page.EMBED_LIMIT`); returns where it went."""
    from .fsutil import remove_stale_temps, write_atomic
    from .report_page import EMBED_LIMIT, render_page

    target = target or output_dir / REPORT_NAME
    data = collect(output_dir, batch, target.parent)
    page = render_page(data, EMBED_LIMIT if embed_bytes is None else embed_bytes)
    try:
        with _sole_writer(target.parent):
            remove_stale_temps(target)  # a writer killed mid-page left it; none writes now
            return write_atomic(target, page)
    except OSError as exc:
        raise UsageError(f"cannot write the report {target}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _sole_writer(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` for the block: shards ending together write
    their pages one after the other, so each may clear temporary files a killed one left."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_after_run(batch: Batch) -> None:
    """The page at the end of a run. It is a view of the record, so failing to write it is a
    warning, never a failed batch; a run that stopped before recording anything (a missing
    model, say) has nothing to show, and its one error line stays the only line."""
    if not read_status(batch.output_dir) and not read_summaries(batch.output_dir):
        return
    try:
        write_report(batch.output_dir, batch)
    except Exception as exc:
        print(f"swbatch: warning: no report written: {exc}", file=sys.stderr)


def collect(output_dir: Path, batch: Batch | None, page_dir: Path) -> dict:
    """Everything the page shows, as plain data (:func:`swbatch.report_page.render_page` turns it
    into HTML). ``page_dir`` is the folder the page will be in: links are relative to it."""
    merged = merge_batch(output_dir, batch)
    records = read_status(output_dir)
    summaries = read_summaries(output_dir)
    final, _twice = final_records(records)
    last = {rec["id"]: rec for rec in records}
    ids = [job.id for job in batch.jobs] if batch else list(dict.fromkeys(r["id"] for r in records))
    known = {job.id: job for job in batch.jobs} if batch else {}
    rows, docs = [], []
    for job_id in ids:
        rec = final.get(job_id) or last.get(job_id) or {"id": job_id, "state": "missing"}
        state = rec["state"] if rec["state"] in ("done", "failed", "interrupted") else "missing"
        job = known.get(job_id)
        audio = _absolute(job.audio if job else rec.get("audio"))
        json_path = _json_path(output_dir, job, rec)
        doc = _read_json(json_path) if state == "done" else None
        rows.append(_row(job_id, audio, state, rec, doc, json_path, page_dir))
        docs.append(doc)
    shown = os.path.abspath(output_dir)  # a manifest's "../out" as the folder it is
    return {
        "title": f"swbatch report: {shown}",
        "output_dir": shown,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "swbatch_version": __version__,
        "complete": merged.complete,
        "totals": _totals(merged, rows, summaries),
        "shards": _shards(merged, summaries),
        "failures": _failure_groups(rows),
        "rerun": _rerun_commands(merged, summaries),
        "events": _events(records, summaries),
        "rows": rows,
        "docs": docs,
    }


def _absolute(path) -> Path | None:
    return Path(os.path.abspath(path)) if path else None


def _json_path(output_dir: Path, job, rec: dict) -> Path | None:
    """The job's JSON: from its output name when the job list is known, else from its record."""
    if job is not None:
        return output_dir / "whisper_json" / f"{job.output}.json"
    found = [o for o in rec.get("outputs") or [] if o.endswith(".json")]
    return Path(found[-1]) if found else None


def _read_json(path: Path | None) -> dict | None:
    """A finished job's document, or None when it is gone or unreadable (the row still shows)."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def link(path: Path | None, page_dir: Path) -> str | None:
    """``path`` as a URL relative to the page (percent-encoded, so ``#``, ``?`` and ``%`` in a
    name stay part of it), or None when there is nothing there."""
    if path is None or not path.exists():
        return None
    return quote(os.path.relpath(path, page_dir).replace(os.sep, "/"), safe="/")


def review_flags(doc: dict | None) -> list[tuple[str, str]]:
    """(reason, what it found) of each review flag of a document, read defensively: a flag is
    ``{"reason", "detail", "segments"}`` (:mod:`swbatch.review`), or a bare text."""
    out = []
    for item in (doc or {}).get("review") or []:
        if isinstance(item, dict):
            out.append((str(item.get("reason") or "review"), str(item.get("detail") or "")))
        else:
            out.append((str(item), ""))
    return out


def _row(job_id: str, audio: Path | None, state: str, rec: dict, doc: dict | None,
         json_path: Path | None, page_dir: Path) -> dict:  # fmt: skip
    duration = rec.get("audio_seconds") or (doc or {}).get("duration") or None
    wall = rec.get("wall_seconds") or None
    speakers = (doc or {}).get("speakers")
    flags = review_flags(doc)
    return {
        "id": job_id,
        "audio": str(audio) if audio else "",
        "state": state,
        "reason": rec.get("reason") if state != "done" else None,
        "action": rec.get("action"),
        "duration": duration,
        "wall": wall,
        "speed": round(duration / wall, 2) if duration and wall else None,
        "language": (doc or {}).get("language"),
        "speakers": len(speakers) if isinstance(speakers, list) else None,
        "flags": [reason for reason, _detail in flags],
        "flag_details": [f"{reason}: {detail}" if detail else reason for reason, detail in flags],
        "shard": rec.get("shard") or "",
        "time": rec.get("time") or "",
        "audio_src": link(audio, page_dir),
        "json_src": link(json_path, page_dir) if doc else None,
    }


def _totals(merged, rows: list[dict], summaries: dict) -> dict:
    """The batch's counts (merged over shards) and the last run's time and speed: one shard's
    summary as written, or over shards the span from the first start to the last finish."""
    count = {s: sum(r["state"] == s for r in rows) for s in STATES}
    last = [data for _name, data in summaries.values()]
    starts = [d["started"] for d in last if isinstance(d.get("started"), (int, float))]
    ends = [d["started"] + d["wall_seconds"] for d in last
            if isinstance(d.get("started"), (int, float))
            and isinstance(d.get("wall_seconds"), (int, float))]  # fmt: skip
    wall = round(max(ends) - min(starts), 3) if starts and ends else None
    run_audio = sum(d.get("audio_seconds") or 0.0 for d in last)
    if len(last) == 1:
        speed = last[0].get("speed_x_realtime")
    else:
        speed = round(run_audio / wall, 2) if wall else None
    return {
        "jobs": merged.jobs if merged.jobs is not None else len(rows),
        "done": merged.done,
        "failed": merged.failed,
        "interrupted": count["interrupted"],
        "missing": count["missing"],
        "skipped": sum(d.get("skipped") or 0 for d in last),
        "audio_hours": round(merged.audio_seconds / 3600, 4),
        "wall_seconds": wall,
        "speed_x_realtime": speed,
        "transcribed": sum(d.get("transcribed") or 0 for d in last),
    }


def _shards(merged, summaries: dict) -> list[dict]:
    rows = []
    for s in merged.shards:
        data = summaries.get(s.shard, (None, {}))[1]
        rows.append({"shard": s.shard, "done": s.done, "failed": s.failed, "missing": s.missing,
                     "audio_hours": round(s.audio_seconds / 3600, 4), "host": s.host,
                     "wall_seconds": s.wall_seconds, "state": s.state,
                     "speed_x_realtime": data.get("speed_x_realtime")})  # fmt: skip
    return rows


def _failure_groups(rows: list[dict]) -> list[dict]:
    """Failed files grouped by reason (the file's own path taken out of it), largest first."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if row["state"] == "failed":
            reason = (row["reason"] or "no reason recorded").replace(row["audio"], "FILE")
            groups.setdefault(reason, []).append(i)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    return [{"reason": reason, "rows": indices} for reason, indices in ordered]


def _rerun_commands(merged, summaries: dict) -> list[dict]:
    """How to rerun what is not done: each shard's command as its summary recorded it (a rerun
    skips the finished files and redoes the others), else the general form."""
    todo = {f.get("shard") or "all" for f in merged.failures}
    todo |= {m.get("shard") or "all" for m in merged.missing_jobs}
    out = []
    for shard in sorted(todo):
        data = summaries.get(shard, (None, {}))[1]
        out.append({"shard": shard, "command": data.get("command"), "cwd": data.get("cwd")})
    if out and not any(o["command"] for o in out):
        out = [{"shard": "all", "command": None, "cwd": None}]
    return out


def _events(records: list[dict], summaries: dict) -> list[list]:
    """[seconds since the first, shard, audio seconds] of every file finished in each shard's
    last run (the one its summary describes), for the throughput plot."""
    starts = {shard: data.get("started") for shard, (_n, data) in summaries.items()}
    points = []
    for rec in records:
        if rec.get("state") != "done" or not rec.get("time"):
            continue
        shard = rec.get("shard") or "all"
        try:
            at = datetime.strptime(rec["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        except ValueError:
            continue
        began = starts.get(shard)
        if isinstance(began, (int, float)) and at < int(began):
            continue
        points.append([at, shard, rec.get("audio_seconds") or 0.0])
    times = [p[0] for p in points] + [s for s in starts.values() if isinstance(s, (int, float))]
    first = min(times, default=0.0)
    return [[round(at - first, 1), shard, round(sec, 2)] for at, shard, sec in sorted(points)]
