#!/usr/bin/env bash
# Tests of the project's scripts (the CI, dist, packaging and set-up logic that the Rust and
# client tests do not reach): runs every tests/scripts/test_*.sh, each in its own bash, and
# prints one line per file and "scripts: N passed, N failed". `make test-scripts` runs it.
#   tests/scripts/run.sh [test file ...]
set -uo pipefail
cd "$(dirname "$0")" || exit 1
[ $# -gt 0 ] || set -- test_*.sh
passed=0
failed=0
for t in "$@"; do
  echo "== $t"
  if bash "$t"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "-- $t FAILED"
  fi
done
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
