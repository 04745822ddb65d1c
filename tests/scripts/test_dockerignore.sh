# shellcheck shell=bash
# .dockerignore as Docker applies it (docker-py's implementation of the same rules, PyPI
# `docker`, pinned, into ./.venv): on a copy of the tracked files plus what `make test`, `make
# soak` and `make bench` leave behind, nothing of the latter reaches the build context, and
# cargo reads the manifest (workspace member, bench target) from what does.
# shellcheck source=tests/scripts/lib.sh
. "$(dirname "$0")/lib.sh"
VENV=${VENV:-$ROOT/.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check docker==7.1.0

tree=$SCRATCH/tree
mkdir -p "$tree"
(cd "$ROOT" && git ls-files -z | tar --null -T - -c) | tar -x -C "$tree"
left=(
  target/release/libsessiongate.so
  bench/floor/target/debug/x
  fuzz/target/x86_64-unknown-linux-gnu/release/token_parse
  fuzz/corpus/token_parse/0a1b
  fuzz/artifacts/token_parse/crash-1
  tests/clients/node_modules/ioredis/package.json
  examples/webapp/node_modules/x/index.js
  .venv/bin/python
  .venv/servers/bin/python
  tests/clients/__pycache__/servers.cpython-311.pyc
  dist/libsessiongate.so
  bench/out/report.md
  dump.rdb
  tests/appendonly.aof
  fuzz/artifacts/args.log
)
for f in "${left[@]}"; do
  mkdir -p "$(dirname "$tree/$f")"
  echo x >"$tree/$f"
done

case_ "nothing a local run leaves reaches the context; the sources do"
OUT=$("$VENV/bin/python" - "$tree" "$ROOT/.dockerignore" <<'PY'
import sys
from docker.utils.build import exclude_paths
root, ignore = sys.argv[1], sys.argv[2]
patterns = [l.strip() for l in open(ignore) if l.strip() and not l.startswith("#")]
for path in sorted(exclude_paths(root, patterns)):
    print(path)
PY
)
for f in "${left[@]}"; do
  expect_no_match "^$f\$"
done
expect_no_match '(^|/)(node_modules|\.venv|target|__pycache__)(/|$)'
for f in Cargo.toml Cargo.lock rust-toolchain.toml src/lib.rs bench/floor/Cargo.toml \
  bench/floor/src/lib.rs benches/hot_path.rs; do
  expect_line "$f"
done

case_ "cargo reads the manifest from the context alone"
ctx=$SCRATCH/context
mkdir -p "$ctx"
(cd "$tree" && tar --no-recursion -T - -c) <<<"$OUT" | tar -x -C "$ctx"
[ ! -e "$ctx/fuzz" ] || fail "fuzz/ in the context"
# For this machine's target only, as the image's `cargo build` resolves: the lock file also names
# crates of other targets (wasi, windows-*) that no build here has downloaded.
host=$(rustc -vV | sed -n 's/^host: //p')
expect_status 0 sh -c "cd '$ctx' && cargo metadata --locked --offline --filter-platform '$host' --format-version 1 >/dev/null"
