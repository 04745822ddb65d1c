#!/usr/bin/env bash
# `make soak`: what is too slow or too tool-heavy for `make test`, bounded to a few minutes.
#  1. cargo fuzz: each target (fuzz/fuzz_targets: token parsing, ttl, payload and sign-key
#     validation, hash slots, the lifetime cap and its meta field) runs for $FUZZ_SECONDS (default 30) with debug assertions on. cargo-fuzz
#     needs nightly features; the only toolchain here is stable, so RUSTC_BOOTSTRAP=1 unlocks
#     them (-Zsanitizer=address included). Crashes are kept in fuzz/artifacts/<target>/.
#  2. valgrind: tests/hardening_long_run.rs with $VALGRIND_CYCLES (default 10000) cycles
#     against redis-server under memcheck, with the module built with `system-alloc`, so its
#     Rust allocations go straight to malloc, where memcheck sees them whatever allocator the
#     server was built with. (Debian's redis-server links the system libjemalloc, whose malloc
#     memcheck replaces, so Redis' own heap is checked too; the "possibly lost" blocks it
#     reports are Redis' load-time structures, held through interior pointers.) Fails on any
#     memcheck error or definite leak.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
VALGRIND_CYCLES=${VALGRIND_CYCLES:-10000}
# Floors: a soak that ran (almost) nothing must not pass.
floor() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ]; then
    echo "soak: $1=$2 is not a number of at least $3" >&2
    exit 1
  fi
}
floor FUZZ_SECONDS "$FUZZ_SECONDS" 5
floor VALGRIND_CYCLES "$VALGRIND_CYCLES" 1000

need_apt=()
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "make soak needs: ${need_apt[*]} (sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

echo "== fuzzing, ${FUZZ_SECONDS}s per target"
for t in token_parse args key_slot lifetime; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -print_final_stats=1) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t FAILED (log: $log, inputs: fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "${runs:-0}" -lt 1000 ]; then
    tail -n 30 "$log" >&2
    echo "fuzz target $t ran ${runs:-no} inputs in ${FUZZ_SECONDS}s (log: $log)" >&2
    exit 1
  fi
  echo "fuzz $t: $runs runs in ${FUZZ_SECONDS}s, no failure"
done

echo "== long run under valgrind (${VALGRIND_CYCLES} cycles)"
cargo build --release
# In the test-only builds' target directory, whose dependencies are already built (the feature
# changes only the crate), copied out before another build there overwrites it.
cargo build --release --features system-alloc --target-dir target/test-variants
vg_dir=$(mktemp -d)
trap 'rm -rf "$vg_dir"' EXIT
cp target/test-variants/release/libsessiongate.so "$vg_dir/libsessiongate.so"
VALGRIND_DIR="$vg_dir" \
  REDIS_SERVER="$PWD/scripts/valgrind-redis-server" \
  SESSIONGATE_MODULE="$vg_dir/libsessiongate.so" \
  SESSIONGATE_CYCLES="$VALGRIND_CYCLES" \
  cargo test --release --test hardening_long_run -- --nocapture
found=0
for f in "$vg_dir"/*.log; do
  grep -q "libsessiongate.so" "$f" || continue
  found=1
  grep -E "in use at exit|total heap usage|definitely lost|indirectly lost|possibly lost|ERROR SUMMARY" "$f" |
    sed 's/^==[0-9]*== */valgrind: /'
  if ! grep -q "ERROR SUMMARY: 0 errors" "$f"; then
    cat "$f" >&2
    echo "valgrind found errors" >&2
    exit 1
  fi
done
[ "$found" -eq 1 ] || { echo "no valgrind log of a server with the module" >&2; exit 1; }
echo "soak: all passed"
