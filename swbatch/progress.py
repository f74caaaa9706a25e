"""Progress for long batches: a bar on a terminal, plain log lines otherwise, nothing with --quiet.

Failures are always printed (to stderr): a quiet batch that failed must still say why. Files a
rerun skips as already done are counted in the summary line, not listed one by one.
"""

from __future__ import annotations

import sys
import threading

from .status import ALREADY_DONE, JobRecord, Summary


class Progress:
    """Reports each finished job; safe to call from worker threads."""

    def __init__(self, total: int, quiet: bool):
        self.total = total
        self.quiet = quiet
        self.count = 0
        self._lock = threading.Lock()
        self._bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="file", dynamic_ncols=True, file=sys.stderr)

    def job_finished(self, record: JobRecord, summary: Summary) -> None:
        with self._lock:
            self.count += 1
            if record.state == "failed":
                self._write(f"swbatch: FAILED {record.audio}: {record.reason}", force=True)
            elif self._bar is None and not self.quiet and record.reason != ALREADY_DONE:
                speed = record.audio_seconds / record.wall_seconds if record.wall_seconds else 0
                detail = (
                    f" ({record.audio_seconds:.1f} s audio in {record.wall_seconds:.1f} s, "
                    f"{speed:.0f}x)"
                    if record.state == "done" and record.audio_seconds
                    else ""
                )
                why = f" [{record.action}: {record.reason}]" if record.reason else ""
                self._write(
                    f"swbatch: [{self.count}/{self.total}] {record.state} {record.id}{detail}{why}"
                )
            if self._bar is not None:
                self._bar.set_postfix(
                    audio_h=f"{summary.audio_seconds / 3600:.2f}", failed=summary.failed
                )
                self._bar.update(1)

    def resumed(self, job_id: str, windows: int, seconds: float) -> None:
        """A long job goes on from its checkpoint instead of from the start."""
        with self._lock:
            self._write(
                f"swbatch: resuming {job_id} at window {windows} "
                f"({seconds:.1f} s already transcribed)"
            )

    def _write(self, line: str, force: bool = False) -> None:
        if self.quiet and not force:
            return
        line = line.replace("\r", "\\r").replace("\n", "\\n")  # one event, one line
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
