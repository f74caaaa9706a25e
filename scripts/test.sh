#!/usr/bin/env bash
# Install swbatch with its test dependencies into .venv and run the test suite.
# System packages the tests use (espeak-ng, sox, ...) come from .ci/run's apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
exec .venv/bin/python -m pytest "$@"
