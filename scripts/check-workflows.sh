#!/usr/bin/env bash
# The project's own rules for .github/workflows, for first-run failures actionlint does not see:
#  1. `defaults: run: shell: bash` at the top: GitHub then runs each step with
#     `bash --noprofile --norc -eo pipefail`, so `a | b` fails when `a` fails (an unspecified
#     shell has no pipefail).
#  2. Every `sudo` keeps the caller's PATH (`sudo env "PATH=$PATH" ...`): sudo's secure_path
#     drops ~/.cargo/bin, where the runner's Rust toolchain lives.
#  3. Every script (`./scripts/...`) and make target (`run: make ...`) a step names exists.
#  4. scripts/install-deps.sh passes as a bare `sudo` runs it (secure_path, no cargo on PATH,
#     SUDO_USER set): as root in that environment, else through passwordless `sudo -n` itself.
#     Where neither can be had the rule is not checked, and the last line says so instead of
#     claiming success (and fails under CI=true).
#  5. Pins: every job runs on a fixed runner image (no `-latest` label), and every Rust
#     toolchain a workflow installs or runs in (`toolchain:` inputs, `rust:<version>-...`
#     images) and the Dockerfile's RUST_VERSION is rust-toolchain.toml's channel (a
#     `toolchain:` may name Cargo.toml's rust-version only in the job whose script checks it);
#     no `dtolnay/rust-toolchain@stable|beta|nightly`, which installs whatever is current.
#   scripts/check-workflows.sh [workflow files]   default: .github/workflows/*.yml
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- .github/workflows/*.yml
fail=0
problem() {
  echo "check-workflows: $*" >&2
  fail=1
}

targets=$(sed -n 's/^\([a-zA-Z][a-zA-Z0-9_-]*\):.*/\1/p' Makefile)
for wf in "$@"; do
  if ! awk '/^defaults:/ {d = 1; next} d && /^  run:/ {r = 1; next}
            d && r && /^    shell: bash *$/ {ok = 1} /^[a-z]/ {d = 0; r = 0}
            END {exit !ok}' "$wf"; then
    problem "$wf: no top-level 'defaults: run: shell: bash' (steps would run without pipefail)"
  fi
  while IFS= read -r line; do
    problem "$wf: sudo without the caller's PATH (use sudo env \"PATH=\$PATH\" ...): $line"
  done < <(grep -nE "sudo +(\./|scripts/|make |cargo )" "$wf" || true)
  while IFS= read -r script; do
    [ -x "$script" ] || problem "$wf: names $script, which is not an executable file"
  done < <(grep -oE '\./scripts/[A-Za-z0-9_.-]+' "$wf" | sort -u)
  while IFS= read -r target; do
    grep -qx "$target" <<<"$targets" || problem "$wf: names 'make $target', not a Makefile target"
  done < <(grep -E '^ *(- )?run: ' "$wf" | grep -oE '(: |[;&|] *)make( [a-z][a-z0-9-]*)+' |
    sed 's/^.*make //' | tr ' ' '\n' | sort -u)
done

pin=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
msrv=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$pin" ] || problem "rust-toolchain.toml pins no channel"
for wf in "$@"; do
  while IFS= read -r line; do
    problem "$wf: a runner image that moves (pin it, e.g. ubuntu-24.04): $line"
  done < <(grep -nE '^ *(runs-on|runner|- runner):.*-latest' "$wf" || true)
  while IFS= read -r line; do
    problem "$wf: a Rust toolchain that moves (use @master with toolchain: $pin): $line"
  done < <(grep -nE 'dtolnay/rust-toolchain@(stable|beta|nightly)' "$wf" || true)
  while IFS=: read -r n value; do
    value=$(tr -d ' "'"'" <<<"${value#*toolchain:}")
    [ "$value" = "$pin" ] && continue
    if [ "$value" = "$msrv" ] || [ "$value" = "$msrv.0" ]; then
      continue
    fi
    problem "$wf:$n: toolchain $value, not rust-toolchain.toml's $pin"
  done < <(grep -nE '^ *toolchain:' "$wf" || true)
  while IFS=: read -r n tag; do
    [ "${tag%%-*}" = "$pin" ] || problem "$wf:$n: image rust:$tag, not rust:$pin-..."
  done < <(grep -noE 'rust:[0-9][A-Za-z0-9.-]*' "$wf" | sed 's/:rust:/:/' || true)
done
docker_rust=$(sed -n 's/^ARG RUST_VERSION=\(.*\)/\1/p' Dockerfile)
[ "$docker_rust" = "$pin" ] || problem "Dockerfile: ARG RUST_VERSION=$docker_rust, not rust-toolchain.toml's $pin"

secure_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
rule4=checked
if [ "$(id -u)" -eq 0 ]; then
  if ! out=$(env -i PATH="$secure_path" SUDO_USER=ci ./scripts/install-deps.sh 2>&1); then
    problem "scripts/install-deps.sh fails under sudo's secure_path: $out"
  fi
elif sudo -n true 2>/dev/null; then
  if ! out=$(sudo -n ./scripts/install-deps.sh 2>&1); then
    problem "scripts/install-deps.sh fails under a bare sudo: $out"
  fi
else
  rule4="not checked"
fi
[ "$fail" -eq 0 ] || exit 1
if [ "$rule4" = checked ]; then
  echo "check-workflows: $# workflow(s) follow the project's rules"
  exit 0
fi
echo "check-workflows: $# workflow(s) follow rules 1-3 and 5; rule 4 (install-deps.sh under a bare sudo) NOT checked: it needs root or passwordless sudo"
[ "${CI:-}" != true ]
