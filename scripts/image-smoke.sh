#!/usr/bin/env bash
# Smoke test of a built Session Gate image (the Image workflow runs it after `docker build`):
# starts it with a named volume and the port published on 127.0.0.1:<port>, waits for the
# health check (which calls the module), checks the non-root uid and the module path, runs
# every command with its exact replies (START with and without a cap, TTL, PSET, PGET, also
# through the published port, PGETALL, PDEL, EXPIRE, RENEW with and without a new key, END, a
# wrong key, and the owner commands STARTFOR, SESSIONS and REVOKE), and checks that a session survives a restart. The container and the volume are
# removed on every exit path. Needs Docker; nothing else from the host (the published port is
# spoken to with bash).
#   scripts/image-smoke.sh <image> [host port, default 6379]
#
# With --local, the same checks without Docker, against a server started here with the module
# (the image's health check command is run against it too, and the restart is a restart of that
# server from its own dump): how the script itself is tested (tests/scripts).
#   scripts/image-smoke.sh --local [server binary, default redis-server] [module .so]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

fail() {
  echo "image-smoke: $*" >&2
  exit 1
}

# One command over the TCP port in RESP; prints the reply's first line (or bulk data).
via_port() {
  local req="*$#"$'\r\n' a reply
  for a in "$@"; do
    req+="\$${#a}"$'\r\n'"$a"$'\r\n'
  done
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf '%s' "$req" >&3
  IFS= read -r -t 10 reply <&3
  if [[ $reply == \$* ]]; then
    IFS= read -r -t 10 reply <&3
  fi
  exec 3<&-
  printf '%s\n' "${reply%$'\r'}"
}

# expect <exact reply> <command ...>: the reply as redis-cli prints it.
expect() {
  local want=$1 got
  shift
  got=$(cli "$@" 2>&1) || true
  [ "$got" = "$want" ] || fail "$* answered '$got', not '$want'"
}

is_token() {
  grep -Eq '^v1[.][0-9A-Za-z]{16}[.][0-9a-f]{64}$' <<<"$1" || fail "not a token: '$1'"
}

is_v2_token() {
  grep -Eq '^v2[.][{][0-9A-Za-z]{1,3}[}][.][0-9A-Za-z]{16}[.][0-9a-f]{64}$' <<<"$1" ||
    fail "not an owned token: '$1'"
}

# The 16-character id of a v1 or v2 token.
id_of() {
  local rest=${1%.*}
  printf '%s' "${rest##*.}"
}

# expect_ttl <at least> <at most> <sign key> <token>
expect_ttl() {
  local ttl
  ttl=$(cli SESSIONGATE.TTL "$3" "$4")
  [[ $ttl =~ ^[0-9]+$ ]] && [ "$ttl" -ge "$1" ] && [ "$ttl" -le "$2" ] ||
    fail "TTL answered '$ttl', not $1..$2"
}

no_session="the session id contained in <token> does not exist"
bad_sig="the signature contained in <token> is invalid"
no_payload="the requested <payload_name> does not exist"

# Every command, each with its exact reply.
commands() {
  local token renewed moved capped all
  token=$(cli SESSIONGATE.START smoke-key 300)
  is_token "$token"
  expect_ttl 290 300 smoke-key "$token"
  expect OK SESSIONGATE.PSET smoke-key "$token" user alice
  expect OK SESSIONGATE.PSET smoke-key "$token" role admin
  expect alice SESSIONGATE.PGET smoke-key "$token" user
  [ "$(via_port SESSIONGATE.PGET smoke-key "$token" user)" = alice ] ||
    fail "PGET through 127.0.0.1:$port"
  all=$(cli SESSIONGATE.PGETALL smoke-key "$token" | paste -d= - - | sort | tr '\n' ' ')
  [ "$all" = "role=admin user=alice " ] || fail "PGETALL answered $all"
  expect "$bad_sig" SESSIONGATE.PGET other-key "$token" user
  expect OK SESSIONGATE.PDEL smoke-key "$token" role
  expect "$no_payload" SESSIONGATE.PGET smoke-key "$token" role
  expect "$(printf 'user\nalice')" SESSIONGATE.PGETALL smoke-key "$token"
  expect OK SESSIONGATE.EXPIRE smoke-key "$token" 100
  expect_ttl 90 100 smoke-key "$token"

  renewed=$(cli SESSIONGATE.RENEW smoke-key "$token")
  is_token "$renewed"
  [ "$renewed" != "$token" ] || fail "RENEW returned the same token"
  expect "$no_session" SESSIONGATE.PGET smoke-key "$token" user
  expect alice SESSIONGATE.PGET smoke-key "$renewed" user
  expect_ttl 90 100 smoke-key "$renewed"

  moved=$(cli SESSIONGATE.RENEW smoke-key "$renewed" rotated-key)
  is_token "$moved"
  expect "$no_session" SESSIONGATE.PGET smoke-key "$renewed" user
  expect "$bad_sig" SESSIONGATE.PGET smoke-key "$moved" user
  expect alice SESSIONGATE.PGET rotated-key "$moved" user
  expect OK SESSIONGATE.END rotated-key "$moved"
  expect "$no_session" SESSIONGATE.PGET rotated-key "$moved" user

  capped=$(cli SESSIONGATE.START smoke-key 300 60)
  is_token "$capped"
  expect_ttl 50 60 smoke-key "$capped"
  expect OK SESSIONGATE.EXPIRE smoke-key "$capped" 1000
  expect_ttl 50 60 smoke-key "$capped"
  expect OK SESSIONGATE.END smoke-key "$capped"
  expect "$no_session" SESSIONGATE.TTL smoke-key "$capped"
  owners
  echo "commands: START (with and without a cap), TTL, PSET, PGET (also on 127.0.0.1:$port), PGETALL, PDEL, EXPIRE, RENEW (with and without a new key), END, a wrong key, STARTFOR, SESSIONS, REVOKE (all, EXCEPT <token>, ids)"
}

# The owner commands: STARTFOR's v2 tokens, SESSIONS newest first, REVOKE's three forms.
owners() {
  local first second third listed
  first=$(cli SESSIONGATE.STARTFOR smoke-key user-42 300)
  is_v2_token "$first"
  second=$(cli SESSIONGATE.STARTFOR smoke-key user-42 300 60)
  is_v2_token "$second"
  expect_ttl 50 60 smoke-key "$second"
  expect OK SESSIONGATE.PSET smoke-key "$first" device laptop
  expect laptop SESSIONGATE.PGET smoke-key "$first" device
  # Newest first: each entry's id, then (created, ttl) skipped, then the payload asked for.
  listed=$(cli SESSIONGATE.SESSIONS smoke-key user-42 device | awk 'NR % 4 == 1 || NR % 4 == 0' | tr '\n' ' ')
  [ "$listed" = "$(id_of "$second")  $(id_of "$first") laptop " ] ||
    fail "SESSIONS listed '$listed'"
  expect 1 SESSIONGATE.REVOKE smoke-key user-42 EXCEPT "$first"
  expect "$no_session" SESSIONGATE.TTL smoke-key "$second"
  third=$(cli SESSIONGATE.STARTFOR smoke-key user-42 300)
  expect 1 SESSIONGATE.REVOKE smoke-key user-42 "$(id_of "$third")"
  expect laptop SESSIONGATE.PGET smoke-key "$first" device
  expect 1 SESSIONGATE.REVOKE smoke-key user-42
  expect "$no_session" SESSIONGATE.TTL smoke-key "$first"
  expect "" SESSIONGATE.SESSIONS smoke-key user-42
}

# A session is written and saved before restart() and read after it.
survives_restart() {
  local token
  token=$(cli SESSIONGATE.START smoke-key 300)
  expect OK SESSIONGATE.PSET smoke-key "$token" user bob
  expect OK SAVE
  restart
  for _ in $(seq 1 30); do
    [ "$(cli PING 2>/dev/null)" = PONG ] && break
    sleep 1
  done
  expect bob SESSIONGATE.PGET smoke-key "$token" user
  echo "restart: the session survived"
}

# ----------------------------------------------------------------- against a local server
if [ "${1:-}" = --local ]; then
  server=${2:-redis-server}
  module=${3:-$root/target/release/libsessiongate.so}
  [ -f "$module" ] || fail "no module at $module (cargo build --release)"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d)
  pid=""
  # shellcheck disable=SC2329 # run by the trap below
  stop_local() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
  }
  trap stop_local EXIT
  start_server() {
    "$server" --bind 127.0.0.1 --port "$port" --dir "$dir" --logfile "$dir/server.log" \
      --save '' --appendonly no --loadmodule "$module" &
    pid=$!
    for _ in $(seq 1 100); do
      [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    cat "$dir/server.log" >&2
    fail "$server did not start"
  }
  restart() {
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    pid=""
    start_server
  }
  cli() { redis-cli -p "$port" "$@"; }
  start_server
  # The image's health check, as the Dockerfile writes it, pointed at this port.
  health=$(sed -n 's/^ *CMD \["sh", "-c", "\(.*\)"\]$/\1/p' "$root/Dockerfile" | head -n 1)
  [ -n "$health" ] || fail "no health check command in the Dockerfile"
  sh -c "${health//redis-cli /redis-cli -p $port }" || fail "the health check failed: $health"
  echo "health check command: passes"
  grep -qx sessiongate <<<"$(cli MODULE LIST)" || fail "no sessiongate in MODULE LIST"
  commands
  survives_restart
  echo "image-smoke: local $("$server" --version | awk '{print $1, $3}') passed"
  exit 0
fi

# ----------------------------------------------------------------- against the image
image=${1:?usage: image-smoke.sh <image> [host port] | --local [server] [module]}
port=${2:-6379}
name=sessiongate-smoke-$$
volume=$name-data

cleanup() {
  echo "--- server log"
  docker logs "$name" 2>&1 | tail -n 50 || true
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cli() { docker exec "$name" redis-cli "$@"; }
restart() { docker restart "$name" >/dev/null; }

docker volume create "$volume" >/dev/null
docker run -d --name "$name" -p "127.0.0.1:$port:6379" -v "$volume:/data" "$image" >/dev/null

status=""
for _ in $(seq 1 60); do
  status=$(docker inspect --format '{{.State.Health.Status}}' "$name")
  [ "$status" = healthy ] && break
  [ "$status" = unhealthy ] && break
  sleep 2
done
[ "$status" = healthy ] || fail "health: ${status:-none} after 120 s"
echo "health: healthy"

uid=$(docker exec "$name" id -u)
[ "$uid" = 999 ] || fail "runs as uid $uid, not 999"
modules=$(cli MODULE LIST)
grep -qx sessiongate <<<"$modules" || fail "no sessiongate in MODULE LIST: $modules"
grep -qx /usr/local/lib/sessiongate/sessiongate.so <<<"$modules" ||
  fail "module not at /usr/local/lib/sessiongate/sessiongate.so: $modules"

commands
survives_restart
echo "image-smoke: $image passed"
