"""The code blocks of docs/clients.md and README.md, run as they are written: every ```python
and ```js block, with only its addresses pointed at the test's servers (standalone examples use
127.0.0.1:6379, a replica on 6380 and a server loaded with `error-codes yes` on 6381, cluster examples 10.0.0.1:6379 and 10.0.0.2:6379) and
SIGN_KEY defined. A block that mentions a cluster runs against the cluster, any other against
the standalone pair. JavaScript blocks run inside an async function, so `await` works as in an
ES module.
"""

import re
import subprocess
import sys

from servers import ROOT, die_with_parent

PAGES = [ROOT / "docs" / "clients.md", ROOT / "README.md"]
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


def run_one(lang, code):
    if lang == "python":
        cmd = [sys.executable, "-c", 'SIGN_KEY = "doc-snippet-key"\n' + code]
    else:
        wrapped = (
            'const SIGN_KEY = "doc-snippet-key";\n(async () => {\n'
            + code
            + "\n})().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });\n"
        )
        cmd = ["node", "-e", wrapped]
    out = subprocess.run(
        cmd,
        cwd=HERE,  # node finds tests/clients/node_modules from here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=die_with_parent,
    )
    return out.returncode == 0, (out.stdout + out.stderr).strip()


def run(cluster_blocks, **ports):
    """Runs the standalone blocks (cluster_blocks False) or the cluster ones; True if all pass."""
    chosen = [(p, lang, c) for p, lang, c in blocks() if is_cluster(c) == cluster_blocks]
    if not chosen:
        print("  docs: no code block found: the pages changed shape")
        return False
    ok = True
    for page, lang, code in chosen:
        passed, output = run_one(lang, point(code, **ports))
        first = code.strip().splitlines()[0]
        print(f"  docs: {page} {lang} block ({first[:50]}...): {'ok' if passed else 'FAILED'}")
        if not passed:
            print("    " + output.replace("\n", "\n    "))
            ok = False
    return ok
