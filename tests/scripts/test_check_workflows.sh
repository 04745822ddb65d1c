# shellcheck shell=bash
# scripts/check-workflows.sh on a scratch copy of the files it reads: the workflows as they are
# pass; a moving runner image, a moving or different Rust anywhere fails; rule 4 that cannot
# run (an unprivileged user without sudo) is said not checked, never claimed, and fails under CI.
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"
repo=$SCRATCH/repo
fresh_copy() {
  rm -rf "$repo"
  mkdir -p "$repo/.github"
  cp -r "$ROOT/scripts" "$ROOT/Makefile" "$ROOT/rust-toolchain.toml" "$ROOT/Cargo.toml" \
    "$ROOT/Dockerfile" "$repo/"
  cp -r "$ROOT/.github/workflows" "$repo/.github/"
}
pin=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")

case_ "the workflows as they are: every rule holds"
fresh_copy
if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
  expect_status 0 "$repo/scripts/check-workflows.sh"
  expect_line "check-workflows: 3 workflow(s) follow the project's rules"
else
  echo "    (rule 4 cannot run for this user: the next case covers it)"
fi

case_ "an unprivileged user without sudo: rule 4 not checked, said so, failing under CI=true"
expect_status 0 as_nobody env -i PATH="$PATH" HOME=/nonexistent "$repo/scripts/check-workflows.sh"
expect_line "check-workflows: 3 workflow(s) follow rules 1-3 and 5; rule 4 (install-deps.sh under a bare sudo) NOT checked: it needs root or passwordless sudo"
expect_no_match "follow the project's rules"
expect_status 1 as_nobody env -i PATH="$PATH" HOME=/nonexistent CI=true "$repo/scripts/check-workflows.sh"

# Each break on a fresh copy: <file> <sed expression> <expected problem, a regex>.
while IFS='|' read -r file expr problem; do
  case_ "broken: $file: $expr"
  fresh_copy
  sed -i "$expr" "$repo/$file"
  cmp -s "$repo/$file" "$ROOT/$file" && fail "the expression changed nothing in $file"
  expect_status 1 "$repo/scripts/check-workflows.sh"
  expect_match "$problem"
done <<LIST
.github/workflows/ci.yml|0,/runs-on: ubuntu-24.04/s//runs-on: ubuntu-latest/|ci.yml: a runner image that moves
.github/workflows/release.yml|s/runner: ubuntu-24.04$/runner: ubuntu-latest/|release.yml: a runner image that moves
.github/workflows/ci.yml|0,/toolchain: $pin/s//toolchain: 1.94.0/|ci.yml:[0-9]+: toolchain 1.94.0, not rust-toolchain.toml's $pin
.github/workflows/ci.yml|0,/dtolnay\/rust-toolchain@master/s//dtolnay\/rust-toolchain@stable/|a Rust toolchain that moves
.github/workflows/ci.yml|s/container: rust:$pin-bookworm/container: rust:1-bookworm/|image rust:1-bookworm, not rust:$pin-
.github/workflows/release.yml|s/rust:$pin-bookworm/rust:1-bookworm/g|release.yml:[0-9]+: image rust:1-bookworm
Dockerfile|s/^ARG RUST_VERSION=.*/ARG RUST_VERSION=1/|Dockerfile: ARG RUST_VERSION=1, not rust-toolchain.toml's $pin
LIST
