#!/usr/bin/env python3
"""Bake model sets into the cache during a Docker build: ``swbatch prefetch`` under another name.

    RUN --mount=type=secret,id=hf_token \\
        python scripts/prefetch.py full --token-file /run/secrets/hf_token

Same arguments, output and exit codes as ``swbatch prefetch`` (0 done, 2 a bad manifest or a
failed download); the cache root is ``$SLOWER_WHISPER_CACHE_ROOT``. A token file keeps the token
out of the image's layers and history, which an ``ARG``/``ENV`` would not.
"""

from __future__ import annotations

import sys

from swbatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["prefetch", *sys.argv[1:]]))
