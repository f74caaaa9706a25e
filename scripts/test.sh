#!/usr/bin/env bash
# Install swbatch with its test dependencies into .venv and run the test suite.
# System packages the tests use (espeak-ng, sox, ...) come from .ci/run's apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
# The emotion/diarization extras with their tested pins (torch, ~5.4 GB, ~90 s to install);
# SWBATCH_TEST_TORCH=0 leaves them out and their tests skip. Installed, they are required: a
# skipped `torch` test then fails the run (tests/skip_report.py reads SWBATCH_REQUIRE).
if [ "${SWBATCH_TEST_TORCH:-1}" != 0 ]; then
  .venv/bin/pip install -q -e '.[dev,emotion,diarization]' -c constraints/torch.txt
  export SWBATCH_REQUIRE="${SWBATCH_REQUIRE:+$SWBATCH_REQUIRE,}torch"
fi
# pytest prints every skip with its reason at the end, and names any required group that skipped.
exec .venv/bin/python -m pytest "$@"
