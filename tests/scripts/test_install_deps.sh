# shellcheck shell=bash
# scripts/install-deps.sh: the apt line a non-root user is given names everything `make test`
# needs, and the Rust toolchain rust-toolchain.toml pins is linked from an installed toolchain
# of the same version without any download, or the one command to install it is printed.
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"
want=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")
host=$(rustc -vV | sed -n 's/^host: //p')

case_ "non-root, on a machine without valgrind and a C++ compiler: one apt line naming both"
path=$(stub_path bash env id sed awk grep dirname python3 redis-server redis-benchmark node npm cc)
# A copy an unprivileged user can read wherever the work tree is.
mkdir -p "$SCRATCH/repo/scripts"
cp "$ROOT/scripts/install-deps.sh" "$SCRATCH/repo/scripts/"
expect_status 1 as_nobody env -i HOME=/nonexistent PATH="$path" "$SCRATCH/repo/scripts/install-deps.sh"
expect_match '^  sudo apt-get update && sudo apt-get install -y .*\bvalgrind\b'
grep -E '^  sudo apt-get' <<<"$OUT" | grep -qw 'g++' || fail "no g++ in the apt line: $OUT"

# A fresh rustup home (no network: RUSTUP_AUTO_INSTALL=0 and an unreachable dist server make
# any download fail at once) whose only toolchain is `stable`.
fresh_rustup() {
  local home=$SCRATCH/rustup-$1
  mkdir -p "$home/toolchains"
  printf 'version = "12"\ndefault_toolchain = "stable-%s"\nprofile = "minimal"\n' "$host" \
    >"$home/settings.toml"
  echo "$home"
}
offline() {
  env RUSTUP_HOME="$1" RUSTUP_AUTO_INSTALL=0 RUSTUP_DIST_SERVER=http://127.0.0.1:9 \
    RUSTUP_UPDATE_ROOT=http://127.0.0.1:9 "${@:2}"
}

case_ "stable is Rust $want, no toolchain named $want: linked, and cargo runs the pin offline"
home=$(fresh_rustup same)
ln -s "$(rustc --print sysroot)" "$home/toolchains/stable-$host"
expect_status 1 offline "$home" cargo --version # the state of such a fresh machine
expect_status 0 offline "$home" "$ROOT/scripts/install-deps.sh"
expect_match "linked $want-$host to the installed stable-$host"
[ -L "$home/toolchains/$want-$host" ] || fail "no link $want-$host"
expect_status 0 offline "$home" sh -c "cd '$ROOT' && cargo --version && cargo clippy --version"
expect_match "^cargo $want "
expect_status 0 offline "$home" "$ROOT/scripts/install-deps.sh" # a second run: nothing to do
expect_no_match linked

case_ "stable is another version: fails with the one command to run"
home=$(fresh_rustup other)
mkdir -p "$home/toolchains/stable-$host/bin"
printf '#!/bin/sh\necho "rustc 1.94.1 (0000000 2026-01-01)"\n' >"$home/toolchains/stable-$host/bin/rustc"
chmod +x "$home/toolchains/stable-$host/bin/rustc"
expect_status 1 offline "$home" "$ROOT/scripts/install-deps.sh"
[ "$(wc -l <<<"$OUT")" -eq 1 ] || fail "more than one line: $OUT"
expect_line "install-deps: rust-toolchain.toml pins Rust $want, which rustup does not have; run: rustup toolchain install $want --profile minimal --component rustfmt,clippy"
