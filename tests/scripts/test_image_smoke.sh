# shellcheck shell=bash
# scripts/image-smoke.sh --local: every command of the image smoke test, the image's health
# check command and a restart, against the default redis-server with the freshly built module
# (the image itself needs Docker: CI's Image workflow).
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"

case_ "every command, the health check and a restart, on a local server"
expect_status 0 "$ROOT/scripts/image-smoke.sh" --local
expect_line "health check command: passes"
expect_match "^commands: START \(with and without a cap\), TTL, PSET, PGET"
expect_line "restart: the session survived"

case_ "a health check that cannot match a token fails the smoke test"
mkdir -p "$SCRATCH/repo/scripts"
cp "$ROOT/scripts/image-smoke.sh" "$SCRATCH/repo/scripts/"
sed 's/{64}/{65}/' "$ROOT/Dockerfile" >"$SCRATCH/repo/Dockerfile"
expect_status 1 "$SCRATCH/repo/scripts/image-smoke.sh" --local redis-server \
  "$ROOT/target/release/libsessiongate.so"
expect_match "^image-smoke: the health check failed"
