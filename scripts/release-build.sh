#!/usr/bin/env bash
# Builds, tests and packages the release module. The release workflow runs it as root inside
# the official rust:<pinned version>-bookworm image, natively on an x86_64 and an arm64 runner,
# so the .so needs only bookworm's glibc (2.36): Debian 12+, Ubuntu 23.04+ (LTS: 24.04; 22.04
# has 2.35), and the Debian-based official redis and valkey images (not their alpine/musl
# variants).
# The asset is the .so of `cargo build --release`, copied, stripped of debug info and
# checksummed right after that build, as scripts/build-dist.sh copies it: `cargo test` builds
# the crate again with the dev-dependencies' features onto the same path, and that build is
# never shipped. The integration tests (the test dist) then run against the asset itself, and
# the checksum is checked again at the end.
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
mkdir -p "$out"
cp target/release/libsessiongate.so "$out/$name"
strip --strip-debug "$out/$name"
(cd "$out" && sha256sum "$name" >"$name.sha256")

dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
./scripts/build-dist.sh "$dist"
cp "$out/$name" "$dist/libsessiongate.so"
sh "$dist/run-tests.sh" "$(command -v redis-server)"
cargo test --release --locked --lib
(cd "$out" && sha256sum -c "$name.sha256")
ls -l "$out"
