"""The code blocks of README.md and docs/*.md, run as they are written: every ```python
and ```js block, with only its addresses pointed at the test's servers (standalone examples use
127.0.0.1:6379, a replica on 6380 and a server loaded with `error-codes yes` on 6381, cluster examples 10.0.0.1:6379 and 10.0.0.2:6379) and
SIGN_KEY defined. A block that mentions a cluster runs against the cluster, any other against
the standalone pair. JavaScript blocks run inside an async function, so `await` works as in an
ES module.

Every block states what it must produce with checks a reader can see: plain `assert`
statements in Python, `assert(...)`/`assert.equal(...)` etc. of `require("node:assert")` (or
`assert`, `node:assert/strict`) in JavaScript. Each check that runs is counted, and a block
passes only if it ran to its end and ran at least one check: a block without checks, or whose
checks never ran, fails.
"""

import ast
import re
import subprocess
import sys

from servers import ROOT, die_with_parent

# Every page: a ```python or ```js block anywhere in the docs is run and must check its result.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HERE = ROOT / "tests" / "clients"


def blocks():
    """(page, language, code) of every Python and JavaScript block."""
    found = []
    for page in PAGES:
        for lang, code in re.findall(r"```(python|js)\n(.*?)```", page.read_text(), re.DOTALL):
            found.append((page.name, lang, code))
    return found


def is_cluster(code):
    return "Cluster" in code or "createCluster" in code


def point(code, primary=None, replica=None, cluster=None, coded=None):
    if cluster is not None:
        code = code.replace(
            'ClusterNode("10.0.0.1", 6379), ClusterNode("10.0.0.2", 6379)',
            f'ClusterNode("127.0.0.1", {cluster})',
        )
        code = code.replace('host: "10.0.0.1", port: 6379', f'host: "127.0.0.1", port: {cluster}')
    else:
        for old, new in (("6379", primary), ("6380", replica), ("6381", coded)):
            code = code.replace(f"port={old}", f"port={new}").replace(
                f"port: {old}", f"port: {new}"
            )
    return code


NO_CHECK = "the block checks nothing: assert what it must produce"
CHECKS_RAN = re.compile(r"^doc-snippet checks: (\d+)$", re.MULTILINE)


class CountChecks(ast.NodeTransformer):
    """`assert test, msg` -> `__sg_check(test, msg, "<test's source>")`, which counts it."""

    def __init__(self, source):
        self.source = source
        self.found = 0

    def visit_Assert(self, node):
        self.found += 1
        text = ast.get_source_segment(self.source, node.test) or "assert"
        call = ast.Call(
            func=ast.Name("__sg_check", ast.Load()),
            args=[node.test, node.msg or ast.Constant(None), ast.Constant(text)],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(call), node)


PY_PRELUDE = """SIGN_KEY = "doc-snippet-key"
__sg_ran = 0
def __sg_check(ok, msg, text):
    global __sg_ran
    __sg_ran += 1
    if not ok:
        raise AssertionError(text if msg is None else f"{text}: {msg}")
"""
PY_END = f"""
if __sg_ran == 0:
    raise SystemExit({NO_CHECK!r})
print(f"doc-snippet checks: {{__sg_ran}}")
"""

# The block runs in a scope of its own, where `assert` and `require` of node's assert modules
# give counting wrappers (a block may declare its own `const assert = require(...)`).
JS_PRELUDE = """const SIGN_KEY = "doc-snippet-key";
const __sgRequire = require;
const __sgChecks = { ran: 0 };
function __sgCounted(mod) {
  const count = (f) => function (...args) { __sgChecks.ran++; return f.apply(this, args); };
  return new Proxy(count(mod), {
    get: (_, name) => (typeof mod[name] === "function" ? count(mod[name]) : mod[name]),
  });
}
(async () => {
  const require = (m) =>
    /^(node:)?assert(\/strict)?$/.test(m) ? __sgCounted(__sgRequire(m)) : __sgRequire(m);
  const assert = require("node:assert/strict");
  {
"""
JS_END = f"""
  }}
  if (__sgChecks.ran === 0) throw new Error({NO_CHECK!r});
  console.log(`doc-snippet checks: ${{__sgChecks.ran}}`);
}})().then(() => process.exit(0), (e) => {{ console.error(e); process.exit(1); }});
"""


def instrument(lang, code):
    """The program that runs `code` with its checks counted, or None when it has none."""
    if lang == "python":
        tree = CountChecks(code)
        body = tree.visit(ast.parse(code))
        if not tree.found:
            return None
        return PY_PRELUDE + ast.unparse(ast.fix_missing_locations(body)) + PY_END
    if not re.search(r"\bassert(\.\w+)?\(", re.sub(r"//.*", "", code)):
        return None
    return JS_PRELUDE + code + JS_END


def run_one(lang, code):
    program = instrument(lang, code)
    if program is None:
        return False, NO_CHECK
    if lang == "python":
        cmd = [sys.executable, "-c", program]
    else:
        cmd = ["node", "-e", program]
    out = subprocess.run(
        cmd,
        cwd=HERE,  # node finds tests/clients/node_modules from here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=die_with_parent,
    )
    output = (out.stdout + out.stderr).strip()
    ran = CHECKS_RAN.search(out.stdout)
    return out.returncode == 0 and ran is not None and int(ran.group(1)) > 0, output


def run(cluster_blocks, **ports):
    """Runs the standalone blocks (cluster_blocks False) or the cluster ones; True if all pass."""
    chosen = [(p, lang, c) for p, lang, c in blocks() if is_cluster(c) == cluster_blocks]
    if not chosen:
        print("  docs: no code block found: the pages changed shape")
        return False
    ok = True
    for page, lang, code in chosen:
        passed, output = run_one(lang, point(code, **ports))
        first = next(
            (l for l in code.strip().splitlines() if not l.startswith("const assert")), ""
        )
        ran = CHECKS_RAN.search(output)
        result = f"ok, {ran.group(1)} checks" if passed and ran else "FAILED"
        print(f"  docs: {page} {lang} block ({first[:50]}...): {result}")
        if not passed:
            print("    " + output.replace("\n", "\n    "))
            ok = False
    return ok
