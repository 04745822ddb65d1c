#!/usr/bin/env bash
# Where the time goes: instructions per command under valgrind's callgrind, for native
# HGET/HSET/EXPIRE/HSET-of-a-fresh-key, the floor's FLOOR.PGET/PSET/EXPIRE/START (bench/floor,
# sent the module's very requests)
# and SESSIONGATE.PGET/PSET/EXPIRE/START, counted on the same redis-server. Instruction counts
# do not depend on what else the machine is doing.
#
#   bench/profile.sh [module.so [floor.so]]       (make bench-profile; about a minute)
#
# Writes bench/out/profile/summary.txt and one callgrind file per command. Caveat: valgrind
# hides the CPU's SHA extensions, so HMAC-SHA256 runs the portable code here (about 3,300
# instructions per SHA-256 block, where SHA-NI takes a few hundred cycles): subtract
# `sha2::sha256::compress256` to see the real-hardware picture.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SO="$(realpath "${1:-$ROOT/target/release/libsessiongate.so}")"
FLOOR="$(realpath "${2:-$ROOT/target/release/libsessiongate_floor.so}")"
OUT="${OUT:-$ROOT/bench/out/profile}"
N=${N:-20000}
for tool in valgrind callgrind_control callgrind_annotate redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install valgrind redis-server redis-tools)" >&2; exit 1; }
done
mkdir -p "$OUT"
rm -f "$OUT"/cg.*
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$OUT/cg" --dump-instr=no \
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
  --loadmodule "$SO" --loadmodule "$FLOOR" >"$OUT/server.log" 2>&1 &
VPID=$!
cleanup() {
  kill "$VPID" 2>/dev/null || true
  wait "$VPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM HUP
cli() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 150); do cli ping >/dev/null 2>&1 && break; sleep 0.2; done
cli ping >/dev/null || { cat "$OUT/server.log" >&2; exit 1; }

P=$(head -c 100 /dev/zero | tr '\0' x)
K='sessionnatv:{aaa}:0000000000000000'
T=$(cli SESSIONGATE.START bench-sign-key 100000)
cli SESSIONGATE.PSET bench-sign-key "$T" p "$P" >/dev/null
cli HSET "$K" "" 0123456789abcdef p "$P" >/dev/null
cli EXPIRE "$K" 100000 >/dev/null

run() { # name [-r range] command...: zero the counters, run N commands, dump under that name
  local name=$1
  shift
  callgrind_control -z "$VPID" >/dev/null 2>&1
  redis-benchmark -p "$PORT" -n "$N" -c 10 -P 16 -q "$@" >/dev/null
  callgrind_control -d "$name" "$VPID" >/dev/null 2>&1
}
run HGET HGET "$K" p
run FLOOR.PGET FLOOR.PGET bench-sign-key "$T" p
run PGET SESSIONGATE.PGET bench-sign-key "$T" p
run HSET HSET "$K" p "$P"
run FLOOR.PSET FLOOR.PSET bench-sign-key "$T" p "$P"
run PSET SESSIONGATE.PSET bench-sign-key "$T" p "$P"
run EXPIRE EXPIRE "$K" 100000
run FLOOR.EXPIRE FLOOR.EXPIRE bench-sign-key "$T" 100000
run SG.EXPIRE SESSIONGATE.EXPIRE bench-sign-key "$T" 100000
run HSET-fresh -r 100000000000 HSET 'sessionfrsh:{aaa}:0000__rand_int__' "" 0123456789abcdef
run FLOOR.START FLOOR.START bench-sign-key 100000
run START SESSIONGATE.START bench-sign-key 100000
cli shutdown nosave >/dev/null 2>&1 || true
wait "$VPID" 2>/dev/null || true
dumps() { printf '%s\n' "$OUT"/cg.[0-9]* | sort -V; } # in the order of the runs

{
  echo "Instructions per command (callgrind, $N commands each, redis-benchmark -c 10 -P 16),"
  echo "whole server: network, parsing, command and reply."
  echo
  printf '%-12s %12s %14s %12s\n' command "instr/cmd" "of it SHA-256" "without SHA"
  while IFS= read -r f; do
    name=$(grep -m1 '^desc: Trigger' "$f" | awk '{print $NF}')
    flat=$(callgrind_annotate --auto=no --threshold=100 "$f" 2>/dev/null)
    # Here-strings, not pipes from echo: grep -m1 stops reading early, and under pipefail the
    # writer's SIGPIPE would end the script.
    total=$(grep -m1 'PROGRAM TOTALS' <<<"$flat" | awk '{gsub(",","",$1); print $1}')
    sha=$(awk '/sha2::sha256::compress256$/ {gsub(",","",$1); s+=$1} END {print s+0}' <<<"$flat")
    printf '%-12s %12d %14d %12d\n' "$name" $((total / N)) $((sha / N)) $(((total - sha) / N))
  done < <(dumps)
  while IFS= read -r f; do
    name=$(grep -m1 '^desc: Trigger' "$f" | awk '{print $NF}')
    case $name in FLOOR.* | PGET | PSET | SG.EXPIRE | START) ;; *) continue ;; esac
    echo
    echo "== $name: inclusive instructions per command (largest cost centre of each function)"
    callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" 2>/dev/null |
      sed -nE 's/^ *([0-9,]+) +\( *[0-9.]+%\) +([^ ]+).*$/\1 \2/p' |
      awk -v n="$N" '{
        gsub(",", "", $1); c = $1 + 0; fn = $2
        sub(/^.*\.(rs|c|h|S):/, "", fn); sub(/^\?\?\?:/, "", fn)
        if (c > sum[fn] + 0) sum[fn] = c
      } END { for (f in sum) if (sum[f] / n >= 60) printf "%7d  %s\n", sum[f] / n, f }' |
      grep -E 'RM_|lookupCommandByCString|moduleCreateArgvFromUserFormat|freeClientOriginalArgv|sessiongate(_floor)?::' |
      sort -rn | head -24 || true
  done < <(dumps)
} | tee "$OUT/summary.txt"
