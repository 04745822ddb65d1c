# shellcheck shell=bash
# scripts/test-matrix.sh where no mount namespace can be had (an `unshare` that always fails
# stands first on PATH): under CI=true it fails at once, before building anything; otherwise
# it says the sources stay visible and goes on (to build-dist, where a stand-in cargo stops it).
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"
fake=$SCRATCH/fake-bin
mkdir -p "$fake"
printf '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n' >"$fake/unshare"
printf '#!/bin/sh\necho "stand-in cargo: $*" >&2\nexit 3\n' >"$fake/cargo"
chmod +x "$fake/unshare" "$fake/cargo"
server=$(command -v redis-server)

case_ "CI=true without a mount namespace: fails with one line, builds nothing"
expect_status 1 env PATH="$fake:$PATH" CI=true REDIS_SERVERS="$server" DIST="$SCRATCH/dist" \
  "$ROOT/scripts/test-matrix.sh"
expect_line "test-matrix: no mount namespace (unshare --mount, as root or with user namespaces): under CI the sources must be hidden from the tests"
expect_no_match "stand-in cargo"

case_ "outside CI: a note, and on to building the dist"
expect_status 3 env PATH="$fake:$PATH" CI= REDIS_SERVERS="$server" DIST="$SCRATCH/dist" \
  "$ROOT/scripts/test-matrix.sh"
expect_match "^no mount namespace here: the source tree stays visible"
expect_match "^stand-in cargo: test --release --locked --no-run"
