"""The pipeline: discover -> decode -> infer -> enrich -> write, scheduled by the runner.

Each stage is a module with a small interface; data flows one way down them:

- :mod:`.discover`: the jobs this process runs (one shard of the batch);
- :mod:`.decide`: per job, run it or skip it (and why);
- :mod:`.decode`: a file becomes :class:`~.decode.DecodedFile`, read by inference as windows;
- :mod:`.infer`: windows become a :class:`~.infer.Transcript` (sequential or batched backend);
- :mod:`.enrich`: speakers and emotion added to the document;
- :mod:`.write`: the document rendered to each format, atomically, JSON last;
- :mod:`.runner`: claims jobs, runs the stages on worker threads, records every outcome.

Only what the CLI and the Python API need is imported here; heavy libraries load inside stages.
"""

from .decide import dry_run
from .options import RunOptions
from .runner import run_batch

__all__ = ["RunOptions", "dry_run", "run_batch"]
