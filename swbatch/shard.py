"""Split one batch into COUNT shards, one per scheduler task (Kubernetes Indexed Job, Slurm array,
AWS Batch array job), each task running the same command over the same shared folder.

The split is computed once per batch and shard count, by the first task to start (or by
``swbatch plan``), and published as a plan file that every other task reads (:mod:`swbatch.plan`):
tasks computing it each on their own would diverge as soon as one of them reads a duration
differently. The split is still deterministic (it depends only on job ids, durations rounded to
milliseconds, and COUNT), so a plan can be checked and recomputed.

How the split works (bounded-load rendezvous hashing):

1. every job gets a weight: its audio duration, read from the file's header
   (:func:`swbatch.plan.job_seconds`, no decoding); a file whose header says nothing weighs the
   mean of the others;
2. jobs are visited in the order of a hash of their id, and each job ranks the shards by a hash
   of (job id, shard) -- its own preference list, independent of every other job;
3. a job goes to the first shard on its list that stays within ``capacity = total/COUNT +
   longest/2``; when none does, to the lightest shard.

Why: a plain hash of the id is stable but balances file counts, not hours; a greedy
longest-first packing balances hours but reshuffles everything when one file is added. With
preferences fixed per job, adding files moves only the few jobs that spill from a shard that
became full (about 1% of existing jobs for 10% more files, see tests/test_shard.py), and changing
COUNT moves about 1/COUNT of them, as rendezvous hashing does.

Bound (guaranteed, tested): no shard gets more audio than ``total/COUNT + longest file``. A job
placed within capacity ends at most at capacity; a job sent to the lightest shard finds it at
most at ``(total - its duration)/COUNT``. No split can promise much better in general (one file
longer than all the others together is one shard's work alone).

This module is arithmetic on ids, seconds and environment variables only: it knows no job, no
file and no plan, so the plan (:mod:`swbatch.plan`) builds on it and never the reverse.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import UsageError

#: The shard of a task: ``INDEX/COUNT`` (INDEX from 0), e.g. ``2/8``.
SHARD_ENV = "SWBATCH_SHARD"
#: The number of shards for schedulers that give a task its index but not the count.
COUNT_ENV = "SWBATCH_SHARD_COUNT"

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """One shard of a batch: ``index`` in ``0 .. count-1``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, source: str = "--shard") -> Shard:
    """``INDEX/COUNT`` (INDEX from 0) -> Shard, or a UsageError naming where the value came from."""
    match = _SPEC.match(str(text))
    if not match:
        raise UsageError(f"{source} must be INDEX/COUNT (e.g. 0/4), not {text!r}")
    return _checked(int(match.group(1)), int(match.group(2)), source)


def _checked(index: int, count: int, source: str) -> Shard:
    if count < 1:
        raise UsageError(f"{source}: the shard count must be at least 1, not {count}")
    if not 0 <= index < count:
        raise UsageError(
            f"{source}: shard index {index} is outside 0..{count - 1} (it counts from 0)"
        )
    return Shard(index, count)


def _int_env(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"${name} must be a whole number, not {raw!r}") from None


def _count_for(env: Mapping[str, str], index_var: str, fallback_var: str | None) -> int:
    """The shard count: $SWBATCH_SHARD_COUNT, else the scheduler's own count variable."""
    count = _int_env(env, COUNT_ENV)
    if count is None and fallback_var:
        count = _int_env(env, fallback_var)
    if count is None:
        hint = f" (or ${fallback_var})" if fallback_var else ""
        raise UsageError(
            f"${index_var} is set but ${COUNT_ENV}{hint} is not: set it to the number of shards "
            f"(the Job's completions), or pass --shard 0/1 to run the whole batch in this task"
        )
    return count


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard a scheduler gave this task, or None outside an array task.

    Looked up in this order: ``$SWBATCH_SHARD`` (``INDEX/COUNT``); Kubernetes Indexed Jobs
    (``$JOB_COMPLETION_INDEX`` + ``$SWBATCH_SHARD_COUNT``: Kubernetes does not expose the
    completion count); Slurm arrays (``$SLURM_ARRAY_TASK_ID`` relative to
    ``$SLURM_ARRAY_TASK_MIN`` and ``$SLURM_ARRAY_TASK_STEP``, count ``$SLURM_ARRAY_TASK_COUNT``,
    so ``--array=1-8`` is shards 0..7; see :func:`_slurm_shard` for ``$SWBATCH_SHARD_COUNT``);
    AWS Batch array jobs (``$AWS_BATCH_JOB_ARRAY_INDEX`` + ``$AWS_BATCH_JOB_ARRAY_SIZE``).
    ``$SWBATCH_SHARD_COUNT`` overrides any scheduler's count.
    """
    env = os.environ if env is None else env
    if env.get(SHARD_ENV, "").strip():
        return parse_shard(env[SHARD_ENV], f"${SHARD_ENV}")
    index = _int_env(env, "JOB_COMPLETION_INDEX")
    if index is not None:
        return _checked(index, _count_for(env, "JOB_COMPLETION_INDEX", None), "Kubernetes")
    task = _int_env(env, "SLURM_ARRAY_TASK_ID")
    if task is not None:
        return _slurm_shard(env, task)
    index = _int_env(env, "AWS_BATCH_JOB_ARRAY_INDEX")
    if index is not None:
        count = _count_for(env, "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE")
        return _checked(index, count, "AWS Batch")
    return None


def _slurm_shard(env: Mapping[str, str], task: int) -> Shard:
    """Slurm task ids need not start at 0 (``--array=1-8``) nor be contiguous (``0-14:2``).

    With ``$SWBATCH_SHARD_COUNT`` set, the task id *is* the shard index, so a rerun of a few
    indexes (``sbatch --array=2,5``, whose own MIN and COUNT describe only that rerun) still maps
    each task to its original shard; without it, the index is counted from the array's start.
    """
    pinned = _int_env(env, COUNT_ENV)
    if pinned is not None:
        return _checked(task, pinned, f"Slurm array task {task} (with ${COUNT_ENV}={pinned})")
    low = _int_env(env, "SLURM_ARRAY_TASK_MIN") or 0
    step = _int_env(env, "SLURM_ARRAY_TASK_STEP") or 1
    count = _count_for(env, "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT")
    offset = task - low
    if step < 1 or offset % step:
        raise UsageError(
            f"Slurm array task {task} is not on the range {low}-...:{step}; submit a plain range "
            f"(sbatch --array=0-{count - 1}) or set ${COUNT_ENV}"
        )
    return _checked(offset // step, count, f"Slurm array task {task}")


def resolve_shard(flag: object) -> str | None:
    """The ``--shard`` flag or, when absent, the scheduler's environment, as ``INDEX/COUNT``."""
    if flag is None:
        shard = shard_from_env()
    elif isinstance(flag, bool) or not isinstance(flag, str):
        raise UsageError(f"--shard must be INDEX/COUNT (e.g. 0/4), not {flag!r}")
    else:
        shard = parse_shard(flag)
    return str(shard) if shard else None


# --- the split ----------------------------------------------------------------------------------


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


_MASK = (1 << 64) - 1


def _score(key: int, shard: int) -> int:
    """A job's preference for a shard: splitmix64 of (job hash, shard), cheap and well mixed."""
    z = (key + (shard + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def assign(ids: Sequence[str], seconds: Sequence[float], count: int) -> list[int]:
    """The shard of each job (see the module docstring for the rule and its bound)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    loads = [0.0] * count
    result = [0] * len(ids)
    if not ids:
        return result
    capacity = sum(seconds) / count + max(seconds) / 2
    keys = [_hash(job_id) for job_id in ids]
    for i in sorted(range(len(ids)), key=lambda i: (keys[i], ids[i])):
        shard = _place(keys[i], seconds[i], loads, capacity)
        loads[shard] += seconds[i]
        result[i] = shard
    return result


def _place(key: int, seconds: float, loads: list[float], capacity: float) -> int:
    """The first shard on the job's preference list with room, else the lightest shard."""
    scores = [_score(key, s) for s in range(len(loads))]
    first = max(range(len(loads)), key=scores.__getitem__)
    if loads[first] + seconds <= capacity:  # the common case: no need to rank the rest
        return first
    for shard in sorted(range(len(loads)), key=scores.__getitem__, reverse=True):
        if loads[shard] + seconds <= capacity:
            return shard
    return min(range(len(loads)), key=lambda s: (loads[s], s))


def first_choice(job_id: str, count: int) -> int:
    """The shard a job prefers above all others: where a job the plan does not know goes.

    It depends on the id and the count alone (no durations), so every task agrees on it.
    """
    key = _hash(job_id)
    return max(range(count), key=lambda shard: _score(key, shard))
