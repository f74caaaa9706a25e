"""Errors a user can act on, each with the exit code the CLI maps it to.

The exit codes are part of the command-line contract (documented in docs/failures.md):
0 all done, 1 some jobs failed, 2 bad usage / manifest / environment, 3 a model is missing,
4 the cache does not match its lock.
"""

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_USAGE = 2
EXIT_MODEL_MISSING = 3
EXIT_VERIFY_FAILED = 4


class SwbatchError(Exception):
    """An error with a one-line message for the user; the CLI prints it without a traceback."""

    exit_code = EXIT_USAGE


class UsageError(SwbatchError):
    """Bad flags, a malformed manifest, an unusable cache root."""


class ModelMissingError(SwbatchError):
    """A model is not in the cache (and may not be downloaded, e.g. offline)."""

    exit_code = EXIT_MODEL_MISSING


class VerifyError(SwbatchError):
    """The cache's files do not match the lock written at prefetch time."""

    exit_code = EXIT_VERIFY_FAILED


class PrefetchError(SwbatchError):
    """A download failed (unknown repo, gated, network): exit 2 with one line."""


class JobError(Exception):
    """One job failed; the message is its one-line status reason; the batch goes on."""
