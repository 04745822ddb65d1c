# syntax=docker/dockerfile:1
# Session Gate on the official Redis image.
#
#   docker build -t sessiongate .
#   docker run -d --name sessiongate -p 127.0.0.1:6379:6379 -v sessiongate-data:/data sessiongate
#
# Both stages are Debian bookworm, so the module links against the glibc the server runs on.
# Build for another architecture with `docker buildx build --platform linux/arm64 ...` on an
# arm64 host, or on x86_64 once QEMU's binfmt handlers are registered (docs/install.md).

ARG RUST_VERSION=1
ARG REDIS_VERSION=7.2

FROM rust:${RUST_VERSION}-bookworm AS build
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
    && install -D -m 0644 target/release/libsessiongate.so /out/sessiongate.so

FROM redis:${REDIS_VERSION}-bookworm
LABEL org.opencontainers.image.title="sessiongate" \
      org.opencontainers.image.description="Redis with the Session Gate module: signed-token sessions inside Redis" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/sessiongate.so /usr/local/lib/redis/modules/sessiongate.so
# The image's own non-root user `redis` (uid and gid 999, numeric so that runtimes such as
# Kubernetes' runAsNonRoot can check it); /data, the working directory and volume, is its own.
USER 999:999
EXPOSE 6379
# Healthy only when the module answers: START with ttl 0 returns a well-formed token and
# stores nothing.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["sh", "-c", "redis-cli SESSIONGATE.START healthcheck 0 | grep -Eq '^v1[.][0-9A-Za-z]{16}[.][0-9a-f]{64}$'"]
CMD ["redis-server", "--loadmodule", "/usr/local/lib/redis/modules/sessiongate.so"]
