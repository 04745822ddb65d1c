#!/usr/bin/env bash
# Smoke test of a built Session Gate image (the Image workflow runs it after `docker build`):
# starts it with a named volume and the port published on 127.0.0.1:<port>, waits for the
# health check (which calls the module), checks the non-root uid and the module path, runs
# START, PSET, PGET (also through the published port), a wrong key and END, and checks that a
# session survives a restart. The container and the volume are removed on every exit path.
# Needs Docker; nothing else from the host (the published port is spoken to with bash).
#   scripts/image-smoke.sh <image> [host port, default 6379]
set -euo pipefail
image=${1:?usage: image-smoke.sh <image> [host port]}
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
fail() {
  echo "image-smoke: $*" >&2
  exit 1
}
cli() { docker exec "$name" redis-cli "$@"; }

# One command over the published port in RESP; prints the reply's first line (or bulk data).
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

token=$(cli SESSIONGATE.START smoke-key 300)
grep -Eq '^v1[.][0-9A-Za-z]{16}[.][0-9a-f]{64}$' <<<"$token" || fail "START returned $token"
[ "$(cli SESSIONGATE.PSET smoke-key "$token" user alice)" = OK ] || fail PSET
[ "$(cli SESSIONGATE.PGET smoke-key "$token" user)" = alice ] || fail PGET
cli SESSIONGATE.PGET other-key "$token" user | grep -q 'signature contained in <token> is invalid' ||
  fail "a wrong key was not refused"
[ "$(via_port SESSIONGATE.PGET smoke-key "$token" user)" = alice ] ||
  fail "PGET through the published port"
[ "$(cli SESSIONGATE.END smoke-key "$token")" = OK ] || fail END
echo "commands: START, PSET, PGET (also on 127.0.0.1:$port), wrong key, END"

token=$(cli SESSIONGATE.START smoke-key 300)
[ "$(cli SESSIONGATE.PSET smoke-key "$token" user bob)" = OK ] || fail PSET
[ "$(cli SAVE)" = OK ] || fail SAVE
docker restart "$name" >/dev/null
for _ in $(seq 1 30); do
  [ "$(cli PING 2>/dev/null)" = PONG ] && break
  sleep 1
done
[ "$(cli SESSIONGATE.PGET smoke-key "$token" user)" = bob ] || fail "the session did not survive a restart"
echo "image-smoke: $image passed"
