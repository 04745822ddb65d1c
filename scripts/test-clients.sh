#!/usr/bin/env bash
# The client tests (tests/clients/run.py): redis-py, ioredis and node-redis through the whole
# session lifecycle on a standalone server, its replica and a 3-primary cluster with replicas
# (a slot resharded under the client), then the example web app and the Django, Flask and
# Express adapters (examples/) end to end over HTTP.
#
# Installs the pinned clients first: redis-py, Flask and Django into ./.venv
# (tests/clients/requirements.txt, which includes the examples' pins), the Node clients with
# `npm ci` into examples/express/node_modules and
# tests/clients/node_modules (package-lock.json). Needs python3, node 18.19+ and npm (`make deps`
# installs them) and a built module (`make test-clients` builds it). Arguments go to run.py
# (`--clients redis-py --topologies cluster --no-webapp`, ...). The server is redis-server from
# PATH; REDIS_SERVERS="bin1 bin2" runs everything once per server binary instead.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || {
    echo "cannot create a virtualenv: install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt

if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 19) ? 0 : 1)'; then
  echo "the Node clients need node 18.19 or newer; this is $(node --version)" >&2
  exit 1
fi
# npm ci empties node_modules and installs exactly the lock file: only when the lock changed.
stamp=tests/clients/node_modules/.installed-from-lock
if ! cmp -s tests/clients/package-lock.json "$stamp"; then
  (cd tests/clients && npm ci --no-audit --no-fund --silent)
  cp tests/clients/package-lock.json "$stamp"
fi
# The Express example's own pins (examples/express/package-lock.json), the same way.
stamp=examples/express/node_modules/.installed-from-lock
if ! cmp -s examples/express/package-lock.json "$stamp"; then
  (cd examples/express && npm ci --no-audit --no-fund --silent)
  cp examples/express/package-lock.json "$stamp"
fi

IFS=' :' read -r -a servers <<<"${REDIS_SERVERS:-$(command -v redis-server || echo redis-server)}"
status=0
for server in "${servers[@]}"; do
  case $server in /*) ;; */*) server=$caller/$server ;; esac # a path from where it was called
  REDIS_SERVER="$server" "$VENV/bin/python" tests/clients/run.py "$@" || status=1
done
exit "$status"
