#!/usr/bin/env python3
"""The client tests: each client's script (redis_py.py, ioredis.js, node_redis.js) runs the whole
session lifecycle against real servers with the freshly built module, in three topologies:

  standalone  a primary                       env SG_PRIMARY=<port>
  replica     the primary and its replica     env SG_PRIMARY, SG_REPLICA
  cluster     3 primaries, 1 replica each     env SG_CLUSTER_PRIMARIES, SG_CLUSTER_REPLICAS
                                              (comma-separated ports)

(SG_SERVER names the server: "redis 7.0", "valkey 9.1".)

then every code block of README.md and docs/*.md (doc_snippets.py), the example web
app's end-to-end test (webapp_e2e.py) and the Django, Flask and Express adapters' (frameworks_e2e.py). One primary/replica pair and one cluster serve every
client in turn (flushed, and their INFO stats reset, before each run).

A script asks the harness for what only it can do by writing a line `@harness <request>` to
stdout; the answer is one JSON line on its stdin:

  counts           MOVED, ASK and TRYAGAIN replies the cluster's nodes sent so far (errorstats)
  reads            calls of the read-only commands (PGET, TTL, PGETALL) on primaries / replicas
  migrate <slot>   start moving <slot> to another primary, as `redis-cli --cluster reshard`
                   does: IMPORTING/MIGRATING, then half of the slot's keys moved (and the
                   replicas caught up with that)
  finish           once the client has met a TRYAGAIN for the slot (bounded wait), move the
                   rest and give the slot to its new owner on every node; answers when done

After each cluster run the harness prints the MOVED and ASK replies that client caused. Every
server and client process is stopped on every exit path, and every wait is bounded.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import doc_snippets
from servers import Cluster, Pair, Server, die_with_parent, error_counts, server_version

HERE = Path(__file__).resolve().parent
CLIENT_TIMEOUT = 240  # seconds one client script may run against one topology
CLIENTS = {
    "redis-py": [sys.executable, str(HERE / "redis_py.py")],
    "ioredis": ["node", str(HERE / "ioredis.js")],
    "node-redis": ["node", str(HERE / "node_redis.js")],
}
TOPOLOGIES = ["standalone", "replica", "cluster"]
READ_COMMANDS = ("sessiongate.pget", "sessiongate.ttl", "sessiongate.pgetall")
SERVER = ""  # "redis 7.0", "valkey 9.1": the scripts see it as SG_SERVER


class Control:
    """Answers a client's `@harness` requests about the cluster it is testing."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.migration = None
        self.finisher = None

    def handle(self, request, reply):
        words = request.split()
        if words[0] == "counts":
            reply(error_counts(self.cluster.servers))
        elif words[0] == "reads":
            reply(
                {
                    "primaries": self.reads(self.cluster.primaries),
                    "replicas": self.reads(self.cluster.replicas),
                }
            )
        elif words[0] == "migrate":
            reply(self.migrate(int(words[1])))
        elif words[0] == "finish":
            # The client keeps sending commands while this waits for one of them to meet the
            # half-moved slot, so the answer comes from another thread.
            self.finisher = threading.Thread(target=self.finish, args=(reply,), daemon=True)
            self.finisher.start()
        else:
            reply({"error": f"unknown request {request!r}"})

    def reads(self, ports):
        total = 0
        for p in ports:
            stats = self.cluster.node(p).info("commandstats")
            total += sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in READ_COMMANDS)
        return total

    def migrate(self, slot):
        c = self.cluster
        source = c.slot_map(c.servers[0])[slot][0]
        primaries = c.primaries
        target = primaries[(primaries.index(source) + 1) % len(primaries)]
        c.begin_migration(slot, source, target)
        keys = sorted(c.keys_in_slot(source, slot))
        moved = keys[: (len(keys) + 1) // 2]
        c.migrate_keys(source, target, moved)
        c.wait_replicas_synced()  # the source's replica no longer holds the moved sessions
        self.migration = (slot, source, target)
        return {"source": source, "target": target, "moved": len(moved), "total": len(keys)}

    def finish(self, reply):
        try:
            slot, source, target = self.migration
            node = self.cluster.node(target)
            start = error_counts([node])["TRYAGAIN"]
            deadline = time.monotonic() + 30
            while error_counts([node])["TRYAGAIN"] == start:
                if time.monotonic() > deadline:
                    raise TimeoutError("the client sent no command to the half-moved slot")
                time.sleep(0.01)
            self.cluster.finish_migration(slot, source, target)
            reply({"finished": True})
        except Exception as e:  # the client must hear of it, or it would wait for nothing
            reply({"error": f"{type(e).__name__}: {e}"})


def run_client(name, topology, env, control):
    """Runs one client script; True when it exits 0 within CLIENT_TIMEOUT."""
    proc = subprocess.Popen(
        CLIENTS[name],
        cwd=HERE,
        env={**os.environ, **env, "SG_TOPOLOGY": topology, "SG_SERVER": SERVER},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        preexec_fn=die_with_parent,
    )
    lock = threading.Lock()

    def reply(obj):
        with lock:
            try:
                proc.stdin.write(json.dumps(obj) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # the client is gone; its exit status tells why

    timed_out = threading.Event()

    def kill():
        timed_out.set()
        proc.kill()

    timer = threading.Timer(CLIENT_TIMEOUT, kill)
    timer.start()
    try:
        for line in proc.stdout:
            if line.startswith("@harness "):
                request = line[len("@harness ") :].strip()
                if control is None:
                    reply({"error": "no cluster in this topology"})
                else:
                    try:
                        control.handle(request, reply)
                    except Exception as e:
                        reply({"error": f"{type(e).__name__}: {e}"})
            else:
                print(f"  {name} {topology}: {line}", end="", flush=True)
        status = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if timed_out.is_set():
        print(f"  {name} {topology}: killed after {CLIENT_TIMEOUT} s")
    return status == 0 and not timed_out.is_set()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--clients", default=",".join(CLIENTS), help="comma-separated, of: " + ", ".join(CLIENTS)
    )
    ap.add_argument("--topologies", default=",".join(TOPOLOGIES))
    ap.add_argument("--no-webapp", action="store_true", help="skip the web app's test")
    ap.add_argument("--no-docs", action="store_true", help="skip the documentation's code")
    ap.add_argument(
        "--no-frameworks", action="store_true", help="skip the Django, Flask and Express adapters"
    )
    opt = ap.parse_args()
    clients = [c for c in opt.clients.split(",") if c]
    topologies = [t for t in opt.topologies.split(",") if t]
    unknown = [c for c in clients if c not in CLIENTS] + [
        t for t in topologies if t not in TOPOLOGIES
    ]
    if unknown:
        ap.error(f"unknown: {', '.join(unknown)}")

    # SIGTERM unwinds like Ctrl-C does, through every `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    global SERVER
    (major, minor), valkey = server_version()
    SERVER = f"{'valkey' if valkey else 'redis'} {major}.{minor}"
    print(f"client tests on {SERVER}")
    results = []
    began = time.monotonic()

    def record(name, ok, t0):
        results.append((name, ok, time.monotonic() - t0))
        print(f"{'PASS' if ok else 'FAIL'} {name} ({time.monotonic() - t0:.1f} s)", flush=True)

    if "standalone" in topologies or "replica" in topologies:
        pair = Pair()
        try:
            env = {"SG_PRIMARY": str(pair.primary.port), "SG_REPLICA": str(pair.replica.port)}
            for client in clients:
                for topology in ("standalone", "replica"):
                    if topology in topologies:
                        t0 = time.monotonic()
                        pair.reset()
                        record(f"{client} {topology}", run_client(client, topology, env, None), t0)
            if not opt.no_docs:
                t0 = time.monotonic()
                pair.reset()
                coded = Server("error-codes", "yes")  # the docs' server on 6381
                try:
                    ok = doc_snippets.run(
                        False,
                        primary=pair.primary.port,
                        replica=pair.replica.port,
                        coded=coded.port,
                    )
                finally:
                    coded.stop()
                record("docs: standalone code", ok, t0)
        finally:
            pair.stop()

    if "cluster" in topologies:
        t0 = time.monotonic()
        cluster = Cluster()
        print(
            f"cluster up in {time.monotonic() - t0:.1f} s: primaries {cluster.primaries}, "
            f"replicas {cluster.replicas}"
        )
        try:
            for client in clients:
                t0 = time.monotonic()
                cluster.reset()
                env = {
                    "SG_CLUSTER_PRIMARIES": ",".join(map(str, cluster.primaries)),
                    "SG_CLUSTER_REPLICAS": ",".join(map(str, cluster.replicas)),
                }
                control = Control(cluster)
                ok = run_client(client, "cluster", env, control)
                if control.finisher:
                    control.finisher.join(timeout=60)
                counts = error_counts(cluster.servers)
                print(
                    f"  {client} cluster: redirections over the whole run: "
                    f"MOVED {counts['MOVED']}, ASK {counts['ASK']} "
                    f"(TRYAGAIN {counts['TRYAGAIN']})"
                )
                record(f"{client} cluster", ok, t0)
                if not ok:  # a run that failed midway may leave a slot half-moved
                    cluster.stop()
                    cluster = Cluster()
            if not opt.no_docs:
                t0 = time.monotonic()
                cluster.reset()
                record(
                    "docs: cluster code", doc_snippets.run(True, cluster=cluster.primaries[0]), t0
                )
        finally:
            cluster.stop()

    for skip, name, script in (
        (opt.no_webapp, "web app", "webapp_e2e.py"),
        (opt.no_frameworks, "frameworks", "frameworks_e2e.py"),
    ):
        if skip:
            continue
        t0 = time.monotonic()
        try:
            ok = (
                subprocess.run(
                    [sys.executable, str(HERE / script)],
                    cwd=HERE,
                    check=False,
                    timeout=CLIENT_TIMEOUT,
                    preexec_fn=die_with_parent,
                ).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            print(f"  {name}: killed after {CLIENT_TIMEOUT} s")
            ok = False
        record(f"{name} end to end", ok, t0)

    passed = sum(1 for _, ok, _ in results if ok)
    print(f"\nclient tests ({time.monotonic() - began:.0f} s):")
    for name, ok, secs in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<28} {secs:5.1f} s")
    print(f"clients: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
