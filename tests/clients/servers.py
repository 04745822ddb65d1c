"""Real servers for the client tests and the example web app's test: free loopback ports, the
freshly built module, a private directory each, bounded waits that fail with the server's log,
and every process stopped on every exit path. Each server also gets SIGKILL from the kernel if
this process dies without cleaning up (prctl PR_SET_PDEATHSIG), so not even `kill -9` of the
test run leaves one behind.

Topologies: `Pair` (a primary and its replica) and `Cluster` (three primaries, one replica each,
made by `redis-cli --cluster create`), with the slot-migration steps `redis-cli --cluster
reshard` takes, done one at a time so that a test can act between them.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30  # seconds: the bound of every wait for a server to reach a state
# Replicas in sync at once, and listed in CLUSTER SLOTS soon: a replica shows there only once
# its offset is past 0, i.e. after its primary's first write or replication PING (10 s by default).
QUICK_REPLICAS = ("--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1")

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn for every child: the kernel kills it when the test run dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def server_binary():
    return os.environ.get("REDIS_SERVER", "redis-server")


def redis_cli():
    return os.environ.get("REDIS_CLI", "redis-cli")


def server_version():
    """(major, minor) and whether the server under test is Valkey."""
    out = subprocess.run(
        [server_binary(), "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    v = next(w[2:] for w in out.split() if w.startswith("v="))
    major, minor = (int(x) for x in v.split(".")[:2])
    return (major, minor), "valkey" in out.lower()


def module_path():
    """The module under test: $SESSIONGATE_MODULE, else the release build, which must be newer
    than every source file (the same rule as the Rust integration tests)."""
    if os.environ.get("SESSIONGATE_MODULE"):
        return Path(os.environ["SESSIONGATE_MODULE"])
    so = ROOT / "target" / "release" / "libsessiongate.so"
    if not so.exists():
        raise SystemExit(f"{so} is missing: run `cargo build --release` (make test does)")
    sources = [ROOT / "Cargo.toml", *(p for p in (ROOT / "src").rglob("*") if p.is_file())]
    newest = max(p.stat().st_mtime for p in sources)
    if so.stat().st_mtime < newest:
        raise SystemExit(f"{so} is older than the sources: run `cargo build --release`")
    return so


def free_port(cluster=False):
    """A free loopback port; for a cluster node, one whose bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster:
            return port
        if port < 55000:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                    return port
                except OSError:
                    pass
    raise RuntimeError("no free port")


def wait_until(what, check, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Server:
    """One redis-server with the module, on a free loopback port."""

    def __init__(self, *args, cluster=False):
        self.port = free_port(cluster)
        self.dir = Path(tempfile.mkdtemp(prefix=f"sessiongate-clients-{self.port}-"))
        self.log = self.dir / "server.log"
        cmd = [
            server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(self.log),
            "--loadmodule",
            str(module_path()),
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            try:
                wait_until(f"the server on port {self.port}", self.answers_at_start)
            except TimeoutError as e:
                raise RuntimeError(f"{e}; log:\n{self.log_text()}") from None
        except BaseException:
            self.stop()
            raise

    def answers_at_start(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited at start; log:\n{self.log_text()}")
        return self.conn().ping()

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def conn(self, **kw):
        """A plain connection to this one server (bytes replies, bounded timeouts)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=30, socket_connect_timeout=5, **kw
        )

    def info(self, section):
        return self.conn().info(section)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=WAIT)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def stop_all(servers):
    errors = []
    for s in servers:
        try:
            s.stop()
        except Exception as e:  # keep stopping the others
            errors.append(e)
    if errors:
        raise errors[0]


def error_counts(servers):
    """MOVED, ASK and TRYAGAIN error replies the servers sent, summed (INFO errorstats)."""
    total = {"MOVED": 0, "ASK": 0, "TRYAGAIN": 0}
    for s in servers:
        for name, stat in s.info("errorstats").items():
            code = name.removeprefix("errorstat_")
            if code in total:
                total[code] += stat["count"]
    return total


class Pair:
    """A standalone primary and a replica of it, both with the module."""

    def __init__(self):
        self.servers = []
        try:
            self.primary = Server(*QUICK_REPLICAS)
            self.servers.append(self.primary)
            self.replica = Server("--replicaof", "127.0.0.1", str(self.primary.port))
            self.servers.append(self.replica)
            wait_until(
                "the replica link",
                lambda: self.replica.info("replication")["master_link_status"] == "up",
            )
        except BaseException:
            self.stop()
            raise

    def reset(self):
        self.primary.conn().flushall()
        for s in self.servers:
            s.conn().config_resetstat()

    def stop(self):
        stop_all(self.servers)


class Cluster:
    """Three primaries sharing the 16384 slots, one replica each."""

    def __init__(self):
        self.servers = []
        try:
            for _ in range(6):
                self.servers.append(
                    Server(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                        *QUICK_REPLICAS,
                        cluster=True,
                    )
                )
            create = [
                redis_cli(),
                "--cluster",
                "create",
                *(f"127.0.0.1:{s.port}" for s in self.servers),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ]
            out = subprocess.run(
                create,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            if out.returncode != 0:
                raise RuntimeError(f"cluster create failed:\n{out.stdout}{out.stderr}")
            self.wait_stable()
        except BaseException:
            self.stop()
            raise

    def node(self, port):
        return next(s for s in self.servers if s.port == port)

    def ids(self):
        return {s.port: s.conn().execute_command("CLUSTER MYID").decode() for s in self.servers}

    def slot_map(self, server):
        """slot -> (primary port, [replica ports]) as CLUSTER SLOTS on `server` tells."""
        owners = {}
        for start, end, primary, *replicas in server.conn().execute_command("CLUSTER SLOTS"):
            for slot in range(start, end + 1):
                owners[slot] = (primary[1], sorted(r[1] for r in replicas))
        return owners

    def wait_stable(self):
        """Every node: cluster_state ok, the same full slot map with a replica per range, and
        every replica's link up."""

        def stable():
            first = self.slot_map(self.servers[0])
            if len(first) != 16384 or any(not r for _, r in first.values()):
                return False
            for s in self.servers:
                if s.conn().cluster("INFO")["cluster_state"] != "ok":
                    return False
                if self.slot_map(s) != first:
                    return False
            replicas = {r for _, rs in first.values() for r in rs}
            return all(
                self.node(p).info("replication")["master_link_status"] == "up" for p in replicas
            )

        wait_until("a stable cluster", stable)

    @property
    def primaries(self):
        return sorted({p for p, _ in self.slot_map(self.servers[0]).values()})

    @property
    def replicas(self):
        return sorted({r for _, rs in self.slot_map(self.servers[0]).values() for r in rs})

    def wait_replicas_synced(self):
        """Every replica has applied its primary's replication stream up to now."""

        def synced():
            owners = self.slot_map(self.servers[0]).values()
            for primary, replicas in {p: rs for p, rs in owners}.items():
                offset = self.node(primary).info("replication")["master_repl_offset"]
                if any(
                    self.node(r).info("replication")["slave_repl_offset"] < offset for r in replicas
                ):
                    return False
            return True

        wait_until("the replicas to catch up", synced)

    def reset(self):
        for p in self.primaries:
            self.node(p).conn().flushall()
        for s in self.servers:
            s.conn().config_resetstat()

    # Moving one slot, step by step, as `redis-cli --cluster reshard` does.

    def begin_migration(self, slot, source, target):
        ids = self.ids()
        self.node(target).conn().execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
        self.node(source).conn().execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])

    def keys_in_slot(self, port, slot):
        return self.node(port).conn().execute_command("CLUSTER GETKEYSINSLOT", slot, 100000)

    def migrate_keys(self, source, target, keys):
        if keys:
            self.node(source).conn().execute_command(
                "MIGRATE", "127.0.0.1", target, "", 0, 10000, "KEYS", *keys
            )

    def finish_migration(self, slot, source, target):
        self.migrate_keys(source, target, self.keys_in_slot(source, slot))
        ids = self.ids()
        order = [target, source] + [p for p in self.primaries if p not in (source, target)]
        for p in order:
            self.node(p).conn().execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
        wait_until(
            "every node to agree on the slot's new owner",
            lambda: all(self.slot_map(s)[slot][0] == target for s in self.servers),
        )

    def stop(self):
        stop_all(self.servers)
