"""Ctrl-C during a batch: the first stops new work and cancels transcriptions at their next
chunk; the second exits at once.

The first SIGINT only sets :data:`STOP`. The runner then claims nothing new, and every running
transcription raises :class:`Interrupted` where it next looks (between 30-s chunks, between
windows, while waiting for a shared batch). A transcription can be inside ctranslate2 for longer
than that (a window's features and first chunk: 6-13 s measured on a 5-minute window), so the
runner waits :data:`GRACE_SECONDS` for them, records those still running as interrupted, writes
the summary, and the CLI exits 130 without waiting for their threads. A second
SIGINT exits 130 immediately: nothing partial is ever under a final name (writes are atomic), so
a rerun picks up whatever the first one had not finished.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import JobError

#: set by the first Ctrl-C of a run
STOP = threading.Event()


class Interrupted(JobError):
    """This job was stopped by Ctrl-C before it finished; a rerun does it."""


#: the reason recorded for a job stopped by Ctrl-C
INTERRUPTED = "interrupted (Ctrl-C) before it finished; a rerun does it"
#: how long the first Ctrl-C waits for the jobs in flight to reach a check before the runner
#: records the rest as interrupted and the CLI exits without them (issue 17: within about 2 s)
GRACE_SECONDS = 1.5


def check() -> None:
    """Raise :class:`Interrupted` once Ctrl-C was pressed (called between chunks)."""
    if STOP.is_set():
        raise Interrupted(INTERRUPTED)


@contextmanager
def ctrl_c_stops() -> Iterator[None]:
    """While a batch runs in the main thread, Ctrl-C sets :data:`STOP`; a second one exits."""
    STOP.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(_signum, _frame) -> None:
        if STOP.is_set():
            os._exit(130)
        STOP.set()
        print("swbatch: interrupted: no new files; the files in flight stop at their next "
              "chunk (Ctrl-C again to quit now)", file=sys.stderr, flush=True)  # fmt: skip

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        if not STOP.is_set():  # once stopping, a second Ctrl-C still means "now", to the end
            signal.signal(signal.SIGINT, previous)
