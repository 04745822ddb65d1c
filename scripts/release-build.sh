#!/usr/bin/env bash
# Builds, tests and packages the release module. The release workflow runs it as root inside
# the official rust:1-bookworm image, natively on an x86_64 and an arm64 runner, so the .so
# needs only bookworm's glibc (2.36): Debian 12+, Ubuntu 23.04+ (LTS: 24.04; 22.04 has 2.35),
# and the Debian-based official redis and valkey images (not their alpine/musl variants).
#   scripts/release-build.sh <output name> [output dir]
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: release-build.sh <output name> [output dir]}
out=${2:-out}

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  # Keep Debian from starting a redis-server service on install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libclang-dev redis-server >/dev/null
fi

cargo build --release --locked
cargo test --release --locked
mkdir -p "$out"
cp target/release/libsessiongate.so "$out/$name"
strip --strip-debug "$out/$name"
(cd "$out" && sha256sum "$name" >"$name.sha256")
ls -l "$out"
