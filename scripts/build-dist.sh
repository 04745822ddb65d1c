#!/usr/bin/env bash
# Builds the test "dist": what the integration tests need to run with neither the source tree
# nor cargo (the CI `images` job runs it inside each official server image; `make test-matrix`
# runs it against each local server):
#   <dist>/libsessiongate.so              the release module
#   <dist>/libsessiongate-<features>.so   each test-only build the tests ask for with
#                                         build_module_variant("<features>") (panic-test, ...)
#   <dist>/tests/<name>                   one binary per tests/<name>.rs
#   <dist>/run-tests.sh                   scripts/run-dist-tests.sh, the runner
#   scripts/build-dist.sh [dist dir, default: dist]
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:-dist}

rm -rf "$dist"
mkdir -p "$dist/tests"
json=$(mktemp)
trap 'rm -f "$json"' EXIT
cargo test --release --locked --no-run --tests --message-format=json >"$json"
cp scripts/run-dist-tests.sh "$dist/run-tests.sh"
# Integration-test targets are of kind "test"; the crate's unit tests (kind "lib") need no server.
sed -n 's/.*"target":{"kind":\["test"\][^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' \
  "$json" | while read -r name exe; do
  cp "$exe" "$dist/tests/$name"
done
# The module as shipped, built after the test binaries: `cargo build` and `cargo test` build the
# crate with different dependency features (the dev-dependencies') onto the same file, so each
# makes the other's build stale, and the test binaries, built first, are then up to date after
# `make check`'s `cargo test`, not rebuilt.
cargo build --release --locked
cp target/release/libsessiongate.so "$dist/libsessiongate.so"
variants=$(grep -ho 'build_module_variant("[^"]*")' tests/*.rs | sed 's/.*("\(.*\)")/\1/' | sort -u)
for features in $variants; do
  cargo build --release --locked --features "$features" --target-dir target/test-variants
  cp target/test-variants/release/libsessiongate.so "$dist/libsessiongate-${features//[ ,]/+}.so"
done
count=$(find "$dist/tests" -type f | wc -l)
expected=$(find tests -maxdepth 1 -name '*.rs' | wc -l)
if [ "$count" -ne "$expected" ]; then
  echo "build-dist: $count test binaries for $expected files tests/*.rs" >&2
  exit 1
fi
echo "build-dist: $dist holds the module, the test-only builds ($(tr "\n" " " <<<"$variants")) and $count test binaries"
