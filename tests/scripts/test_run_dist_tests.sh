# shellcheck shell=bash
# scripts/run-dist-tests.sh (a dist's run-tests.sh) counts a test that prints `SKIPPED: <reason>`
# as skipped, not passed, in its line and in the totals; a failing test stays failed whatever it
# printed; a binary whose only test skipped did run. Real libtest binaries, built here.
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"

crate=$SCRATCH/skips
mkdir -p "$crate/src" "$crate/tests" "$SCRATCH/dist/tests"
printf '[package]\nname = "skips"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' >"$crate/Cargo.toml"
cp "$ROOT/rust-toolchain.toml" "$crate/"
: >"$crate/src/lib.rs"
cat >"$crate/tests/mixed.rs" <<'RS'
#[test]
fn skips() {
    eprintln!("SKIPPED: this server has no such command");
}
#[test]
fn passes() {
    println!(" SKIPPED: not at the start of a line, so not a skip");
}
#[test]
fn passes_too() {}
RS
cat >"$crate/tests/only_skip.rs" <<'RS'
#[test]
fn skips() {
    eprintln!("SKIPPED: needs Valkey 9");
}
RS
cat >"$crate/tests/fails.rs" <<'RS'
#[test]
fn says_skipped_then_fails() {
    eprintln!("SKIPPED: a failure is never a skip");
    panic!("failed");
}
RS
(cd "$crate" && cargo test -q --no-run --message-format=json 2>/dev/null) |
  sed -n 's/.*"target":{"kind":\["test"\][^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' |
  while read -r name exe; do cp "$exe" "$SCRATCH/dist/tests/$name"; done
[ "$(find "$SCRATCH/dist/tests" -type f | wc -l)" -eq 3 ] || fail "the three test binaries were not built"
cp "$ROOT/scripts/run-dist-tests.sh" "$SCRATCH/dist/run-tests.sh"
server=$(command -v redis-server)

case_ "a skip is counted as skipped, with its reason; a failure that printed SKIPPED stays a failure"
expect_status 1 sh "$SCRATCH/dist/run-tests.sh" "$server"
expect_match '^  mixed +2 passed, 0 failed, 1 skipped \(this server has no such command\)$'
expect_match '^  only_skip +0 passed, 0 failed, 1 skipped \(needs Valkey 9\)$'
expect_match '^  fails +0 passed, 1 failed, 0 skipped$'
expect_line "total: 2 passed, 1 failed, 2 skipped"

case_ "without the failing binary: exit 0, and the closing line counts the skips"
rm "$SCRATCH/dist/tests/fails"
expect_status 0 sh "$SCRATCH/dist/run-tests.sh" "$server"
expect_line "total: 2 passed, 0 failed, 2 skipped"
