#!/usr/bin/env bash
# The project's own rules for .github/workflows, for first-run failures actionlint does not see:
#  1. `defaults: run: shell: bash` at the top: GitHub then runs each step with
#     `bash --noprofile --norc -eo pipefail`, so `a | b` fails when `a` fails (an unspecified
#     shell has no pipefail).
#  2. Every `sudo` keeps the caller's PATH (`sudo env "PATH=$PATH" ...`): sudo's secure_path
#     drops ~/.cargo/bin, where the runner's Rust toolchain lives.
#  3. Every script (`./scripts/...`) and make target (`run: make ...`) a step names exists.
#  4. As root: scripts/install-deps.sh passes as a bare `sudo` would run it (secure_path, no
#     cargo on PATH, SUDO_USER set).
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

if [ "$(id -u)" -eq 0 ]; then
  if ! out=$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SUDO_USER=ci ./scripts/install-deps.sh 2>&1); then
    problem "scripts/install-deps.sh fails under sudo's secure_path: $out"
  fi
fi
[ "$fail" -eq 0 ] && echo "check-workflows: $# workflow(s) follow the project's rules"
exit "$fail"
