# shellcheck shell=bash
# Sourced by each tests/scripts/test_*.sh: a scratch directory removed on exit, and checks that
# name what they expected. A test file runs its cases in order and stops at the first failure.
set -euo pipefail
export ROOT # used by the test files that source this
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/sessiongate-script-test.XXXXXX")
chmod 755 "$SCRATCH" # readable by the unprivileged user some cases run as
trap 'rm -rf "$SCRATCH"' EXIT

fail() {
  echo "FAILED: $*" >&2
  exit 1
}

# expect_status <status> <command...>: runs the command, its output into $OUT.
expect_status() {
  local want=$1 got=0
  shift
  OUT=$("$@" 2>&1) || got=$?
  [ "$got" -eq "$want" ] || fail "exit status $got, not $want: $*
$OUT"
}

expect_line() {
  grep -qxF -- "$1" <<<"$OUT" || fail "no line '$1' in:
$OUT"
}

expect_match() {
  grep -qE -- "$1" <<<"$OUT" || fail "nothing matches /$1/ in:
$OUT"
}

expect_no_match() {
  if grep -qE -- "$1" <<<"$OUT"; then
    fail "/$1/ matches:
$OUT"
  fi
}

# A directory of links to the named commands of this machine, to use as a whole PATH; python3
# is the system's interpreter (not a version manager's shim, which needs its own environment
# and may live where an unprivileged user cannot read).
stub_path() {
  local dir=$SCRATCH/bin-$RANDOM cmd
  mkdir -p "$dir"
  for cmd in "$@"; do
    case $cmd in
      python3) ln -s "$(PATH=/usr/bin:/bin command -v python3)" "$dir/python3" ;;
      *) ln -s "$(command -v "$cmd")" "$dir/$cmd" ;;
    esac
  done
  echo "$dir"
}

# Runs a command as an unprivileged user without sudo rights (nobody): through setpriv as root,
# through passwordless sudo and setpriv otherwise, or as is where neither can be had (the
# caller is then such a user already).
as_nobody() {
  local to_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  if [ "$(id -u)" -eq 0 ]; then
    "${to_nobody[@]}" "$@"
  elif sudo -n true 2>/dev/null; then
    sudo -n "${to_nobody[@]}" "$@"
  else
    "$@"
  fi
}

case_() {
  echo "  $*"
}
