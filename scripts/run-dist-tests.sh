#!/bin/sh
# Runs every integration-test binary of a dist (scripts/build-dist.sh copies this script there as
# run-tests.sh) against one server. The CI `images` job runs it inside each official redis and
# valkey image; `make test-matrix` runs it against each local server with the source tree hidden
# and cargo off PATH. It needs a POSIX shell, the server and its CLI: no cargo, no sources.
#   run-tests.sh [server binary]      default: valkey-server, else redis-server, from PATH
# Every binary runs whatever the others did, and gets one line; the last line is
# "total: N passed, N failed, N skipped". A test that cannot run on this server prints exactly
# `SKIPPED: <reason>` (one line, on stderr) and returns: the harness calls it passed, and this
# runner counts it skipped, not passed (each such line in a passing test's output is one
# skipped test; the binaries run with --show-output, which prints that output). Exits 1 when a test failed,
# a binary failed without a test failing (crash, timeout), or a binary ran no test.
# REDIS_CLI: the CLI for the cluster tests (default: valkey-cli or redis-cli next to the server,
# else from PATH). SESSIONGATE_TEST_TIMEOUT: seconds per binary (default 1800).
set -u
dist=$(cd "$(dirname "$0")" && pwd)

server=${1:-}
[ -n "$server" ] || server=$(command -v valkey-server || command -v redis-server || true)
case "$server" in
  "") echo "run-tests: no valkey-server or redis-server on PATH" >&2; exit 1 ;;
  */*) ;;
  *) server=$(command -v "$server") || { echo "run-tests: no $1 on PATH" >&2; exit 1; } ;;
esac
if ! version=$("$server" --version 2>&1); then
  echo "run-tests: cannot run $server: $version" >&2
  exit 1
fi
cli=${REDIS_CLI:-}
if [ -z "$cli" ]; then
  here=$(dirname "$server")
  for c in "$here/valkey-cli" "$here/redis-cli" "$(command -v valkey-cli)" "$(command -v redis-cli)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      cli=$c
      break
    fi
  done
fi
echo "server: $version"
echo "server binary: $server; CLI: ${cli:-none found (the cluster tests will fail)}"
if command -v cargo >/dev/null 2>&1; then
  echo "cargo on PATH: $(command -v cargo)"
else
  echo "cargo on PATH: none"
fi

REDIS_SERVER=$server
SESSIONGATE_MODULE=$dist/libsessiongate.so
export REDIS_SERVER SESSIONGATE_MODULE
if [ -n "$cli" ]; then
  REDIS_CLI=$cli
  export REDIS_CLI
fi
# The test-only builds (libsessiongate-<features>.so), which the tests would otherwise build
# with cargo.
SESSIONGATE_MODULE_VARIANTS=$dist
export SESSIONGATE_MODULE_VARIANTS
limit=${SESSIONGATE_TEST_TIMEOUT:-1800}
timeout_cmd=""
command -v timeout >/dev/null 2>&1 && timeout_cmd="timeout -k 10 $limit"

work=$(mktemp -d "${TMPDIR:-/tmp}/sessiongate-run.XXXXXX") || exit 1
passed=0
failed=0
skipped=0
binaries=0
for t in "$dist"/tests/*; do
  [ -x "$t" ] || continue
  binaries=$((binaries + 1))
  name=$(basename "$t")
  log="$work/$name.log"
  # shellcheck disable=SC2086 # $timeout_cmd is a command and its arguments, or nothing
  (cd "$work" && $timeout_cmd "$t" --show-output) >"$log" 2>&1
  status=$?
  p=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
  f=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
  # The captured output of the passing tests: between the two "successes:" lines.
  skips=$(awk '/^successes:$/ {n++; next} n == 1 && /^SKIPPED: /' "$log")
  s=$(printf '%s' "$skips" | grep -c '^SKIPPED: ')
  if [ "$s" -gt "$p" ]; then s=$p; fi
  p=$((p - s))
  note=""
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    note=" (exit status $status without a failed test: crashed or timed out)"
  fi
  if [ $((p + s)) -eq 0 ] && [ "$f" -eq 0 ]; then
    f=1
    note=" (ran no test)"
  fi
  if [ "$s" -gt 0 ]; then
    note="$note ($(printf '%s\n' "$skips" | sed 's/^SKIPPED: //' | sort -u | tr '\n' ';' | sed 's/;$//'))"
  fi
  printf '  %-22s %4d passed, %d failed, %d skipped%s\n' "$name" "$p" "$f" "$s" "$note"
  if [ "$f" -ne 0 ]; then
    echo "--- $name (log: $log)"
    if grep -q '^failures:$' "$log"; then
      sed -n '/^failures:$/,/^test result:/p' "$log" | grep -vE '^ +[0-9]+: |^ +at ' | head -n 200
    else
      tail -n 60 "$log"
    fi
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
done
if [ "$binaries" -eq 0 ]; then
  echo "run-tests: no test binary in $dist/tests" >&2
  failed=1
fi
echo "total: $passed passed, $failed failed, $skipped skipped"
if [ "$failed" -ne 0 ]; then
  echo "logs kept in $work" >&2
  exit 1
fi
rm -rf "$work"
