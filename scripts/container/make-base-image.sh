#!/usr/bin/env bash
# Make a minimal Debian base image with python3 and venv, locally, with no image registry:
# debootstrap a root file system from Debian's package mirror and import it into podman.
#
#   scripts/container/make-base-image.sh [TAG]      (default localhost/swbatch-base:bookworm)
#
# Why: CI and air-gapped build hosts reach Debian's mirror but no image registry, so `FROM
# python:3.11-slim` cannot be pulled. Pass the result as --build-arg BASE_IMAGE=TAG.
# Env: SUITE (bookworm), MIRROR (http://deb.debian.org/debian), FORCE=1 to remake an existing tag.
set -euo pipefail
TAG="${1:-localhost/swbatch-base:bookworm}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if [ "${FORCE:-0}" != 1 ] && podman image exists "$TAG"; then
  echo "base image $TAG exists (FORCE=1 to remake it)"
  exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done
rootfs="$(mktemp -d /var/tmp/swbatch-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
  || { tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
# What an image does not need: downloaded .debs, package lists, docs, translations.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
# A sources.list, so `apt-get update` works inside the image (APT_PACKAGES build arg).
echo "deb $MIRROR $SUITE main" >"$rootfs/etc/apt/sources.list"
tar -C "$rootfs" --numeric-owner -c . \
  | podman import --change 'CMD ["/bin/bash"]' \
      --change "LABEL org.opencontainers.image.base.name=debian:$SUITE-debootstrap" - "$TAG" >/dev/null
echo "base image $TAG: $(podman image inspect --format '{{.Size}}' "$TAG") bytes"
