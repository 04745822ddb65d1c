# syntax=docker/dockerfile:1
# Session Gate on an official server image: Redis 8.2 (the official `redis` image, Debian
# bookworm) unless told otherwise; Valkey is one build argument away (docs/install.md: how, and
# the licences).
#
#   docker build -t sessiongate .
#   docker run -d --name sessiongate -p 127.0.0.1:6379:6379 -v sessiongate-data:/data sessiongate
#
#   docker build --build-arg SERVER_IMAGE=valkey/valkey:9.1-trixie -t sessiongate:valkey .
#
# The module is built on Debian bookworm, whose glibc (2.36) is the oldest of the servers'
# Debian images (bookworm or trixie), as the release .so is: it loads on either. Build for
# another architecture with `docker buildx build --platform linux/arm64 ...` on an arm64 host,
# or on x86_64 once QEMU's binfmt handlers are registered (docs/install.md).

# The Rust of rust-toolchain.toml (scripts/check-workflows.sh checks that they agree).
ARG RUST_VERSION=1.95.0
ARG SERVER_IMAGE=redis:8.2-bookworm

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
    && install -D -m 0755 target/release/libsessiongate.so /out/sessiongate.so

FROM ${SERVER_IMAGE}
LABEL org.opencontainers.image.title="sessiongate" \
      org.opencontainers.image.description="Redis or Valkey with the Session Gate module: signed-token sessions inside the server" \
      org.opencontainers.image.licenses="MIT"
# Not in /usr/local/lib/redis/modules/: the entrypoint of the Redis 8 images loads every
# executable .so there by itself, and a module must be executable (servers refuse to load one
# that is not). Here only the CMD loads it, once, on every base.
COPY --from=build /out/sessiongate.so /usr/local/lib/sessiongate/sessiongate.so
# The image's own non-root user (`redis` or `valkey`, uid and gid 999 in both, numeric so that
# runtimes such as Kubernetes' runAsNonRoot can check it); /data, the working directory and
# volume, is its own.
USER 999:999
EXPOSE 6379
# Healthy only when the module answers: START with ttl 0 returns a well-formed token and
# stores nothing. (Valkey images name their binaries redis-cli and redis-server too.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["sh", "-c", "redis-cli SESSIONGATE.START healthcheck 0 | grep -Eq '^v1[.][0-9A-Za-z]{16}[.][0-9a-f]{64}$'"]
CMD ["redis-server", "--loadmodule", "/usr/local/lib/sessiongate/sessiongate.so"]
