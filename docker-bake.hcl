# swbatch images: variants (cpu, gpu) x model sets (swbatch/model_sets/<set>.yaml).
#
#   docker buildx bake                         # the default group: demo + large-v3, cpu and gpu
#   docker buildx bake large-v3-gpu            # one image
#   docker buildx bake all                     # every variant x model set
#   HF_TOKEN=... HF_TOKEN_GIVEN=1 docker buildx bake full-gpu   # a gated set: the token is a secret
#   REGISTRY=ghcr.io/me TAG=0.1.0 docker buildx bake --push
#
# Tags: ${REGISTRY}/swbatch:<set>-<variant> and ${REGISTRY}/swbatch:<set>-<variant>-${TAG}; the default
# registry docker.io/library makes them plain local names (swbatch:demo-cpu). docs/docker.md explains
# the variants and the GPU base. Expressions stay plain interpolations (no functions or conditionals):
# tests/test_container_static.py resolves every target from the parsed file.

variable "REGISTRY" {
  default = "docker.io/library"
}

variable "TAG" {
  default = "0.1.0"
}

variable "VERSION" {
  default = "0.1.0"
}

# Base for both variants: the GPU variant adds CUDA libraries as pip wheels (docs/docker.md).
variable "BASE_IMAGE" {
  default = "python:3.11-slim-bookworm"
}

# The CUDA major version of the GPU variant's libraries (scripts/container/requirements-gpu-cu<N>.txt).
variable "CUDA_MAJOR" {
  default = "12"
}

# 1 when HF_TOKEN is set (HF_TOKEN=... HF_TOKEN_GIVEN=1 docker buildx bake full-gpu): it keys the
# prefetch layer's cache, which ignores secrets, and the build refuses a token without it.
variable "HF_TOKEN_GIVEN" {
  default = "0"
}

variable "REVISION" {
  default = ""
}

group "default" {
  targets = ["demo-cpu", "demo-gpu", "large-v3-cpu", "large-v3-gpu"]
}

group "all" {
  targets = ["image", "no-models"]
}

# What every image shares.
target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64"]
  labels = {
    "org.opencontainers.image.title"    = "swbatch"
    "org.opencontainers.image.version"  = VERSION
    "org.opencontainers.image.revision" = REVISION
    "org.opencontainers.image.licenses" = "MIT"
  }
}

# One image per variant x model set; `set.extras` names the swbatch extras its models need and
# `set.apt` the Debian packages those extras need (ffmpeg: torchcodec, for diarization).
target "image" {
  inherits = ["_common"]
  name     = "${set.name}-${variant}"
  matrix = {
    variant = ["cpu", "gpu"]
    set = [
      { name = "demo", extras = "", apt = "" },
      { name = "tiny", extras = "", apt = "" },
      { name = "base", extras = "", apt = "" },
      { name = "small", extras = "", apt = "" },
      { name = "medium", extras = "", apt = "" },
      { name = "large-v3", extras = "", apt = "" },
      { name = "large-v3-turbo", extras = "", apt = "" },
      { name = "full", extras = "emotion,diarization", apt = "ffmpeg" },
    ]
  }
  target = "runtime"
  args = {
    BASE_IMAGE     = BASE_IMAGE
    VARIANT        = variant
    CUDA_MAJOR     = CUDA_MAJOR
    MODEL_SET      = set.name
    EXTRAS         = set.extras
    APT_PACKAGES   = set.apt
    VERSION        = VERSION
    HF_TOKEN_GIVEN = HF_TOKEN_GIVEN
  }
  # Read only by the models stage's prefetch RUN; unset HF_TOKEN: no secret (non-gated sets).
  secret = ["id=hf_token,env=HF_TOKEN"]
  tags = [
    "${REGISTRY}/swbatch:${set.name}-${variant}",
    "${REGISTRY}/swbatch:${set.name}-${variant}-${TAG}",
  ]
  labels = {
    "io.github.swbatch.model-set" = set.name
    "io.github.swbatch.variant"   = variant
  }
  # GitHub Actions cache, one scope per image; ignored (ignore-error) where there is none.
  cache-from = ["type=gha,scope=${set.name}-${variant}"]
  cache-to   = ["type=gha,scope=${set.name}-${variant},mode=max,ignore-error=true"]
}

# No models inside: mount a cache volume at /models/cache (filled with `swbatch prefetch`).
target "no-models" {
  inherits = ["_common"]
  name     = "no-models-${variant}"
  matrix = {
    variant = ["cpu", "gpu"]
  }
  target = "no-models"
  args = {
    BASE_IMAGE = BASE_IMAGE
    VARIANT    = variant
    CUDA_MAJOR = CUDA_MAJOR
    EXTRAS     = ""
    VERSION    = VERSION
  }
  tags = [
    "${REGISTRY}/swbatch:no-models-${variant}",
    "${REGISTRY}/swbatch:no-models-${variant}-${TAG}",
  ]
  labels = {
    "io.github.swbatch.variant" = variant
  }
}
