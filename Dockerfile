# syntax=docker/dockerfile:1
# Session Gate on an official server image: Valkey 9.1 on Debian trixie unless told otherwise
# (docs/install.md: why, and the Redis variants).
#
#   docker build -t sessiongate .
#   docker run -d --name sessiongate -p 127.0.0.1:6379:6379 -v sessiongate-data:/data sessiongate
#
#   docker build --build-arg SERVER_IMAGE=redis --build-arg SERVER_VERSION=8.2 \
#     --build-arg DEBIAN_SUITE=bookworm -t sessiongate:redis-8.2 .
#
# Both stages are the same Debian suite, so the module links against the glibc the server runs
# on. Build for another architecture with `docker buildx build --platform linux/arm64 ...`.

ARG DEBIAN_SUITE=trixie
ARG RUST_VERSION=1
ARG SERVER_IMAGE=valkey/valkey
ARG SERVER_VERSION=9.1

FROM rust:${RUST_VERSION}-${DEBIAN_SUITE} AS build
# bindgen (used by the redis-module crate) needs libclang. Debian's archive keeps one version
# of it per point release, so the version is not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Release build without debug info; the crate registry is cached between builds.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --lib \
    && install -D -m 0755 target/release/libsessiongate.so /out/sessiongate.so

FROM ${SERVER_IMAGE}:${SERVER_VERSION}-${DEBIAN_SUITE}
LABEL org.opencontainers.image.title="sessiongate" \
      org.opencontainers.image.description="Valkey or Redis with the Session Gate module: signed-token sessions inside the server" \
      org.opencontainers.image.licenses="MIT"
# Not in /usr/local/lib/redis/modules/: the entrypoint of the Redis 8 images loads every
# executable .so there by itself, and a module must be executable (servers refuse to load one
# that is not). Here only the CMD loads it, once, on every base.
COPY --from=build /out/sessiongate.so /usr/local/lib/sessiongate/sessiongate.so
# The image's own non-root user (`valkey` or `redis`, uid and gid 999 in both, numeric so that
# runtimes such as Kubernetes' runAsNonRoot can check it); /data, the working directory and
# volume, is its own.
USER 999:999
EXPOSE 6379
# Healthy only when the module answers: START with ttl 0 returns a well-formed token and
# stores nothing. (Valkey images name their binaries redis-cli and redis-server too.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["sh", "-c", "redis-cli SESSIONGATE.START healthcheck 0 | grep -Eq '^v1[.][0-9A-Za-z]{16}[.][0-9a-f]{64}$'"]
CMD ["redis-server", "--loadmodule", "/usr/local/lib/sessiongate/sessiongate.so"]
