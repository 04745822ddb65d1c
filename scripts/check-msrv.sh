#!/usr/bin/env bash
# CI's msrv job: the module still builds with the Rust that Cargo.toml's rust-version (the MSRV)
# names. Cargo.lock follows the pinned toolchain (rust-toolchain.toml) and holds dependencies
# that need a newer Rust, so a scratch copy of the work tree gets the newest versions that
# declare support for the MSRV (the pinned cargo's MSRV-aware resolver), and the MSRV's cargo
# builds the library from it. Needs rustup (it installs the MSRV toolchain), the pinned toolchain
# and libclang, and the network: it cannot run offline.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml)
pin=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
[ -n "$msrv" ] && [ -n "$pin" ] || { echo "check-msrv: no rust-version or no pinned channel" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -z | tar --null -T - -c | tar -x -C "$work"
cd "$work"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo "+$pin" update
rustup toolchain install "$msrv" --profile minimal
cargo "+$msrv" --version
cargo "+$msrv" build --release --locked --lib -p sessiongate
echo "check-msrv: the module builds with Rust $msrv (rust-version)"
