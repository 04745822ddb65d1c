#!/usr/bin/env python3
"""Session Gate benchmark: module commands against the floor and the native commands.

`make bench` runs this with the freshly built release module and the floor module (bench/floor:
for each Session Gate command, only the module API calls it cannot do without; DESIGN §6), both
loaded in one redis-server that it starts on a free loopback port (stopped on every exit path).
It needs only Python 3's standard library, redis-server, redis-benchmark and redis-cli. Sections:

1. throughput, alternating rounds:
   redis-benchmark, pipelined, many clients, one hot key each, the native command, the floor
   and the module one after the other (the reverse order every other round):
     PGET / FLOOR.PGET / HGET, PSET / FLOOR.PSET / HSET (overwrite), EXPIRE / FLOOR.EXPIRE /
     EXPIRE, START / FLOOR.START / HSET of a fresh key (each of these three from an empty db);
     the floor gets the very request the module gets (same sign key, token and arguments: it
     reads and writes the same session); the goals are module ÷ floor, module ÷ native and
     floor ÷ native are reported beside;
   redis-cli --pipe, one connection, one distinct fresh key per command (real work each time):
     PDEL / HDEL, END / DEL, RENEW / the native commands doing its job (HGETALL, then HSET +
     PEXPIREAT + UNLINK in one MULTI/EXEC; ops/s counts sessions renewed);
   and START with a max_lifetime / START without one (redis-benchmark, as above).
   Each figure is the median of the per-round ratios of ops/s.
2. memory per session (one 100-byte payload) against a native hash with the same fields and a
   TTL: used_memory delta over N keys, at 10k and 1M keys.
3. payload size (100 B, 10 KB, 1 MB): PGET / HGET and PSET / HSET.
4. session count (10k, 1M): random-access PGET / HGET, every key read once per pass in a fresh
   random order (at least --random-reads reads: 1 pass over 1M keys, 100 over 10k), and the
   cost of creating the keys.
5. owners (DESIGN §1b): STARTFOR ÷ START for a fresh owner each (redis-benchmark, alternating
   rounds); then for owners holding 1, 10 and 100 sessions: STARTFOR of one more session per
   owner ÷ START (redis-cli --pipe, same count), SESSIONS with one payload name (redis-benchmark,
   random owners), REVOKE of every session of each owner (redis-cli --pipe, once per owner), and
   the memory per owned session (its index's share included) ÷ per unowned session.

How runs are timed, so that fixed costs do not pull the ratios towards 1:
- redis-benchmark reports its own rate (its clock starts before it connects its clients); each
  run is -n 1,000,000 requests, a second or more, so connecting weighs under 1%.
- redis-cli --pipe runs are timed from outside (start, connect, read the file, send, and the
  closing ECHO round trip): the median time of 9 empty --pipe runs against the same server is
  measured first and subtracted from every run, and runs are long (300k commands, or 100-200 MB
  of payloads), so that what remains is the commands' own time.

Results go to bench/out/ (report.md, results.json, ratios.svg); the report is also printed.
Timings are never pass/fail: the script fails only when a command replies an error or the
server cannot be run.
"""

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGN_KEY = "bench-sign-key"
TTL = 100000  # seconds: nothing expires during a run
FP = "0123456789abcdef"  # 16 bytes, the size of a session's fingerprint field
# Native keys have the shape and length of most session keys: sessiongate:{<3-char tag>}:<id>.
NATIVE_PREFIX = "sessionnatv:{aaa}:"
RENEWED_PREFIX = "sessionnatw:{aaa}:"  # where the native RENEW job copies a hash to
# Fresh keys of the same length, for START's counterparts (redis-benchmark puts 12 digits in
# place of __rand_int__).
NATIVE_FRESH = "sessionfrsh:{aaa}:0000__rand_int__"
RAND_RANGE = 10**11  # redis-benchmark -r for the fresh keys: far more names than requests
MAX_LIFETIME = 2 * TTL  # START's cap in the START+cap/START case
PAYLOAD_NAME = "p"

# DESIGN §6: each hot-key command, its floor command, its native counterpart (START's: HSET of
# a new key), and the goal, a minimum of module ÷ floor in the same run.
HOT = [
    ("PGET", "FLOOR.PGET", "HGET", 0.95),
    ("PSET", "FLOOR.PSET", "HSET", 0.90),
    ("EXPIRE", "FLOOR.EXPIRE", "EXPIRE", 0.90),
    ("START", "FLOOR.START", "HSET", 1.00),
]
OTHER = ["PDEL/HDEL", "END/DEL", "START+cap/START", "RENEW/native"]  # module ÷ native, no goal
# Bytes per session ÷ bytes per native hash of the same fields + TTL: "the same", at most 1 %
# above (used_memory moves by a few bytes between fills).
MEMORY_GOAL = 1.01
RANDOM_READ_GOAL = 0.90  # random-key PGET ÷ HGET, at least, over 1M sessions
RANDOM_READ_GOAL_KEYS = 1_000_000


class ReplyError(Exception):
    pass


class Client:
    """A minimal RESP2 client over one loopback connection."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb", buffering=1 << 20)

    def close(self):
        self.rf.close()
        self.sock.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = b"%d" % a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.rf.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.rf.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError(f"unexpected reply {line[:40]!r}")

    def call(self, *args):
        self.sock.sendall(self.encode(args))
        r = self.read()
        if isinstance(r, ReplyError):
            raise r
        return r

    def info(self, section):
        text = self.call("INFO", section).decode()
        return dict(
            line.split(":", 1)
            for line in text.splitlines()
            if ":" in line and not line.startswith("#")
        )

    def used_memory(self):
        return int(self.info("memory")["used_memory"])


class Server:
    """redis-server with the modules on a free loopback port, in a private directory."""

    def __init__(self, modules):
        self.dir = tempfile.mkdtemp(prefix="sessiongate-bench-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = os.path.join(self.dir, "server.log")
        cmd = [
            os.environ.get("REDIS_SERVER", "redis-server"),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", self.dir,
            "--logfile", self.log,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]
        for module in modules:
            cmd += ["--loadmodule", str(module)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                c = Client(self.port)
                c.call("PING")
                c.close()
                break
            except (OSError, ReplyError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = Path(self.log).read_text(errors="replace") if os.path.exists(self.log) else ""
                    self.stop()
                    sys.exit(f"redis-server did not start:\n{log}")
                time.sleep(0.05)
        self.client = Client(self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def tmpfile(self, name):
        return os.path.join(self.dir, name)


def machine_info():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "server": out([os.environ.get("REDIS_SERVER", "redis-server"), "--version"]),
        "redis_benchmark": out(["redis-benchmark", "--version"]),
        "loadavg_at_start": out(["cat", "/proc/loadavg"]),
        "module_commit": out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ---------------------------------------------------------------- measuring helpers


def cmdstats(client):
    stats = {}
    for k, v in client.info("commandstats").items():
        fields = dict(kv.split("=", 1) for kv in v.split(","))
        stats[k.removeprefix("cmdstat_")] = fields
    return stats


def check_clean(client, command, expected_calls):
    """Every call of the last run succeeded (counted by the server itself)."""
    st = cmdstats(client).get(command.lower())
    if st is None:
        sys.exit(f"{command}: the server counted no call")
    calls, failed = int(st["calls"]), int(st.get("failed_calls", 0))
    if failed or calls < expected_calls:
        sys.exit(f"{command}: {calls} calls, {failed} failed (expected {expected_calls} good)")


def redis_benchmark(srv, args, n, clients, pipeline, rand_range=None):
    """ops/s of one redis-benchmark run of the command `args`; fails on any error reply."""
    srv.client.call("CONFIG", "RESETSTAT")
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(srv.port), "-n", str(n),
           "-c", str(clients), "-P", str(pipeline), "--csv"]
    if rand_range:
        cmd += ["-r", str(rand_range)]
    res = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        sys.exit(f"redis-benchmark failed: {res.stderr or res.stdout}")
    row = res.stdout.strip().splitlines()[-1]
    rps = float(row.split('","')[1])
    check_clean(srv.client, str(args[0]), n)
    return rps


def write_pipe_file(path, commands):
    with open(path, "wb") as f:
        buf = []
        for c in commands:
            buf.append(Client.encode(c))
            if len(buf) >= 4096:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))


def pipe_seconds(srv, stdin):
    """Wall time of one `redis-cli --pipe` run reading `stdin`; fails on any error reply."""
    t0 = time.perf_counter()
    res = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(srv.port), "--pipe"],
                         stdin=stdin, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    tail = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    if res.returncode != 0 or not tail.startswith("errors: 0,"):
        sys.exit(f"redis-cli --pipe reported errors: {tail or res.stderr}")
    return elapsed


def measure_pipe_overhead(srv, runs=9):
    """The fixed cost of a `redis-cli --pipe` run (start, connect, the closing ECHO round trip):
    the median of `runs` runs with nothing to send."""
    return statistics.median(pipe_seconds(srv, subprocess.DEVNULL) for _ in range(runs))


def pipe_rate(srv, path, n):
    """ops/s of the n commands of `path` sent by `redis-cli --pipe` on one connection: the run's
    wall time less the measured fixed cost of a run (srv.pipe_overhead)."""
    with open(path, "rb") as f:
        elapsed = pipe_seconds(srv, f)
    if elapsed < 10 * srv.pipe_overhead:
        print(f"warning: a --pipe run of {n} commands took {elapsed * 1000:.0f} ms, under 10x "
              f"the fixed cost ({srv.pipe_overhead * 1000:.0f} ms): use a longer run",
              file=sys.stderr)
    return n / (elapsed - srv.pipe_overhead)


FILL_SESSIONS = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local t = redis.call('SESSIONGATE.START', ARGV[2], ARGV[3])
  redis.call('SESSIONGATE.PSET', ARGV[2], t, ARGV[4], ARGV[5])
  if ARGV[6] == '1' then out[i] = t end
end
return out
"""

FILL_NATIVE = """
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  local k = ARGV[3] .. string.format('%016d', i)
  if ARGV[8] == '1' then
    redis.call('HSET', k, '', ARGV[4], ARGV[5], ARGV[6])
  else
    redis.call('HSET', k, ARGV[5], ARGV[6])
  end
  redis.call('EXPIRE', k, ARGV[7])
end
return 1
"""


FILL_OWNED = """
for o = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  local owner = ARGV[3] .. string.format('%012d', o)
  for i = 1, tonumber(ARGV[4]) do
    local t = redis.call('SESSIONGATE.STARTFOR', ARGV[5], owner, ARGV[6])
    redis.call('SESSIONGATE.PSET', ARGV[5], t, ARGV[7], ARGV[8])
  end
end
return 1
"""
OWNER_PREFIX = "owner:"  # + 12 digits, as redis-benchmark writes __rand_int__
PER_OWNER = (1, 10, 100)


class Filler:
    """Creates sessions and native hashes server-side (Lua), in batches."""

    BATCH = 10000

    def __init__(self, client):
        self.c = client
        self.sess_sha = client.call("SCRIPT", "LOAD", FILL_SESSIONS).decode()
        self.nat_sha = client.call("SCRIPT", "LOAD", FILL_NATIVE).decode()

    def sessions(self, n, payload, want_tokens=True):
        tokens = []
        done = 0
        while done < n:
            k = min(self.BATCH, n - done)
            r = self.c.call("EVALSHA", self.sess_sha, 0, k, SIGN_KEY, TTL, PAYLOAD_NAME,
                            payload, "1" if want_tokens else "0")
            tokens += r
            done += k
        return tokens

    def native(self, n, payload, prefix=NATIVE_PREFIX, start=0, with_fp=True):
        """Keys prefix + 16-digit index, start..start+n-1, each a hash with the payload (and,
        with_fp, a 16-byte field "" like a session's fingerprint); returns the key names."""
        i = start
        while i < start + n:
            j = min(i + self.BATCH, start + n) - 1
            self.c.call("EVALSHA", self.nat_sha, 0, i, j, prefix, FP, PAYLOAD_NAME, payload, TTL,
                        "1" if with_fp else "0")
            i = j + 1
        return [f"{prefix}{k:016d}" for k in range(start, start + n)]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- sections


def throughput(srv, filler, opt, log):
    payload = "x" * 100
    c = srv.client
    rows = {name: {"base": [], "module": [], "ratio": []} for name in throughput_rows()}

    for rnd in range(opt.rounds):
        # Every round starts from the same state: an empty db, one session, one native hash.
        c.call("FLUSHALL", "SYNC")
        token = filler.sessions(1, payload)[0].decode()
        nkey = filler.native(1, payload)[0]
        assert c.call("SESSIONGATE.PGET", SIGN_KEY, token, PAYLOAD_NAME) == payload.encode()
        assert c.call("HGET", nkey, PAYLOAD_NAME) == payload.encode()
        assert c.call("FLOOR.PGET", SIGN_KEY, token, PAYLOAD_NAME) == payload.encode()
        rnd_throughput(srv, opt, rows, token, nkey, payload, reverse=rnd % 2 == 1)
        rnd_pipes(srv, filler, opt, rows, payload)
        rnd_lifecycle(srv, filler, opt, rows, payload)
        log(f"  round {rnd + 1}/{opt.rounds}: " + ", ".join(
            f"{k} {v['ratio'][-1]:.2f}" for k, v in rows.items()))
    c.call("FLUSHALL", "SYNC")
    goals = {f"{m}/{f}": goal for m, f, _, goal in HOT}
    return {
        name: {
            "base_median": median(r["base"]),
            "module_median": median(r["module"]),
            "ratio_median": median(r["ratio"]),
            "ratios": r["ratio"],
            "goal": goals.get(name),
        }
        for name, r in rows.items()
    }


def throughput_rows():
    """Every throughput ratio, "measured/base": for each hot-key command, module ÷ floor (the
    goal), module ÷ native and floor ÷ native (the price of the module API); then OTHER."""
    hot = [name for m, f, n, _ in HOT for name in (f"{m}/{f}", f"{m}/{n}", f"{f}/{n}")]
    return hot + OTHER


def record(rows, name, base, measured):
    r = rows[name]
    r["base"].append(base)
    r["module"].append(measured)
    r["ratio"].append(measured / base)


def rnd_throughput(srv, opt, rows, token, nkey, payload, reverse):
    """redis-benchmark, the native, floor and module commands one after the other (reversed
    when asked), the floor always next to the module. The floor gets the module's request
    (DESIGN §6: the same arguments) and so reads and writes the same session."""
    runs = [  # native, floor, module, redis-benchmark -r
        (["HGET", nkey, PAYLOAD_NAME], ["FLOOR.PGET", SIGN_KEY, token, PAYLOAD_NAME],
         ["SESSIONGATE.PGET", SIGN_KEY, token, PAYLOAD_NAME], None),
        (["HSET", nkey, PAYLOAD_NAME, payload],
         ["FLOOR.PSET", SIGN_KEY, token, PAYLOAD_NAME, payload],
         ["SESSIONGATE.PSET", SIGN_KEY, token, PAYLOAD_NAME, payload], None),
        (["EXPIRE", nkey, TTL], ["FLOOR.EXPIRE", SIGN_KEY, token, TTL],
         ["SESSIONGATE.EXPIRE", SIGN_KEY, token, TTL], None),
        # START creates a key with a 16-byte field and a TTL, FLOOR.START the same (a random
        # id each); HSET a key with a 16-byte field, random names over a range far larger
        # than -n (redis-benchmark's -r touches only the native command's __rand_int__).
        (["HSET", NATIVE_FRESH, "", FP], ["FLOOR.START", SIGN_KEY, TTL],
         ["SESSIONGATE.START", SIGN_KEY, TTL], RAND_RANGE),
    ]
    for (m, f, n, _), (native, floor, module, rr) in zip(HOT, runs):
        order = [("native", native), ("floor", floor), ("module", module)]
        rate = {}
        for kind, args in reversed(order) if reverse else order:
            if rr:
                # Each from an empty db: the keys one run leaves would slow the next one down.
                srv.client.call("FLUSHALL", "SYNC")
            rate[kind] = redis_benchmark(srv, args, opt.requests, opt.clients, opt.pipeline, rr)
        record(rows, f"{m}/{f}", rate["floor"], rate["module"])
        record(rows, f"{m}/{n}", rate["native"], rate["module"])
        record(rows, f"{f}/{n}", rate["native"], rate["floor"])


def rnd_pipes(srv, filler, opt, rows, payload):
    """PDEL and END need a distinct live session per command: fresh sessions with one payload,
    and as many native hashes of the same shape, made untimed, then deleted through
    redis-cli --pipe (one connection, every command in flight)."""
    n = opt.pipe_requests
    tokens = [t.decode() for t in filler.sessions(n, payload)]
    keys = filler.native(n, payload, start=1)
    files = {
        "hdel": [("HDEL", k, PAYLOAD_NAME) for k in keys],
        "pdel": [("SESSIONGATE.PDEL", SIGN_KEY, t, PAYLOAD_NAME) for t in tokens],
        "del": [("DEL", k) for k in keys],
        "end": [("SESSIONGATE.END", SIGN_KEY, t) for t in tokens],
    }
    for name, cmds in files.items():
        write_pipe_file(srv.tmpfile(name), cmds)
    for name, nat, mod in (("PDEL/HDEL", "hdel", "pdel"), ("END/DEL", "del", "end")):
        record(rows, name, pipe_rate(srv, srv.tmpfile(nat), n),
               pipe_rate(srv, srv.tmpfile(mod), n))
    for name in files:
        os.remove(srv.tmpfile(name))


def rnd_lifecycle(srv, filler, opt, rows, payload):
    """START with a cap against START without (redis-benchmark), and RENEW of fresh sessions
    with one payload against the native commands doing the same job (redis-cli --pipe)."""
    # Each from an empty db: the keys the first run leaves would slow the second one down.
    srv.client.call("FLUSHALL", "SYNC")
    nat = redis_benchmark(srv, ["SESSIONGATE.START", SIGN_KEY, TTL], opt.requests, opt.clients,
                          opt.pipeline)
    srv.client.call("FLUSHALL", "SYNC")
    mod = redis_benchmark(srv, ["SESSIONGATE.START", SIGN_KEY, TTL, MAX_LIFETIME], opt.requests,
                          opt.clients, opt.pipeline)
    srv.client.call("FLUSHALL", "SYNC")
    record(rows, "START+cap/START", nat, mod)

    n = opt.pipe_requests
    tokens = [t.decode() for t in filler.sessions(n, payload)]
    keys = filler.native(n, payload, start=n + 1)
    expire_at = int(time.time() * 1000) + TTL * 1000
    native = []
    for i, k in enumerate(keys):
        new = f"{RENEWED_PREFIX}{i:016d}"
        native += [("HGETALL", k), ("MULTI",), ("HSET", new, "", FP, PAYLOAD_NAME, payload),
                   ("PEXPIREAT", new, expire_at), ("UNLINK", k), ("EXEC",)]
    write_pipe_file(srv.tmpfile("renew-native"), native)
    write_pipe_file(srv.tmpfile("renew"), [("SESSIONGATE.RENEW", SIGN_KEY, t) for t in tokens])
    # pipe_rate divides by the count given: sessions renewed, whatever the commands per session.
    nat = pipe_rate(srv, srv.tmpfile("renew-native"), n)
    mod = pipe_rate(srv, srv.tmpfile("renew"), n)
    record(rows, "RENEW/native", nat, mod)
    # Both did the whole job (redis-cli counted no error reply): the old keys are gone.
    if srv.client.call("EXISTS", keys[0], keys[-1]) != 0:
        sys.exit("the native RENEW job left its old keys")
    try:
        srv.client.call("SESSIONGATE.TTL", SIGN_KEY, tokens[-1])
        sys.exit("RENEW left its old session")
    except ReplyError:
        pass
    for name in ("renew-native", "renew"):
        os.remove(srv.tmpfile(name))


def memory_and_count(srv, filler, opt, log):
    """Memory per key and random-access reads at each session count."""
    c = srv.client
    payload = "x" * 100
    out = {}
    for n in opt.counts:
        c.call("FLUSHALL", "SYNC")
        base = c.used_memory()
        t0 = time.perf_counter()
        tokens = [t.decode() for t in filler.sessions(n, payload)]
        sess_fill = n / (time.perf_counter() - t0)
        sess_mem = (c.used_memory() - base) / n
        assert c.call("DBSIZE") == n
        # Each kind is measured from an empty db, so both pay the same dict growth.
        c.call("FLUSHALL", "SYNC")
        nat_base = c.used_memory()
        t0 = time.perf_counter()
        keys = filler.native(n, payload)
        nat_fill = n / (time.perf_counter() - t0)
        nat_fp_mem = (c.used_memory() - nat_base) / n
        # The goal's baseline: a native hash holding only the payload, with a TTL.
        c.call("FLUSHALL", "SYNC")
        nat_base = c.used_memory()
        filler.native(n, payload, with_fp=False)
        nat_mem = (c.used_memory() - nat_base) / n
        c.call("FLUSHALL", "SYNC")
        keys = filler.native(n, payload)
        tokens = [t.decode() for t in filler.sessions(n, payload)]
        # Random-access reads (both kinds live in the db now): every key once per pass, each
        # pass in a fresh random order, enough passes for at least --random-reads reads.
        passes = -(-opt.random_reads // n)
        m = passes * n
        rng = random.Random(n)

        def shuffled_passes(items):
            for _ in range(passes):
                order = list(range(n))
                rng.shuffle(order)
                for i in order:
                    yield items[i]
        write_pipe_file(srv.tmpfile("hget"),
                        (("HGET", k, PAYLOAD_NAME) for k in shuffled_passes(keys)))
        write_pipe_file(srv.tmpfile("pget"),
                        (("SESSIONGATE.PGET", SIGN_KEY, t, PAYLOAD_NAME)
                         for t in shuffled_passes(tokens)))
        nat, mod, ratio = [], [], []
        for _ in range(opt.size_rounds):
            a = pipe_rate(srv, srv.tmpfile("hget"), m)
            b = pipe_rate(srv, srv.tmpfile("pget"), m)
            nat.append(a)
            mod.append(b)
            ratio.append(b / a)
        out[n] = {
            "session_bytes": sess_mem,
            "native_bytes": nat_mem,
            "memory_ratio": sess_mem / nat_mem,
            "native_same_fields_bytes": nat_fp_mem,
            "memory_ratio_same_fields": sess_mem / nat_fp_mem,
            "session_fill_per_s": sess_fill,
            "native_fill_per_s": nat_fill,
            "fill_ratio": sess_fill / nat_fill,
            "random_hget_per_s": median(nat),
            "random_pget_per_s": median(mod),
            "random_read_ratio": median(ratio),
            "random_reads": m,
        }
        log(f"  {n} keys: {sess_mem:.1f} B/session vs {nat_mem:.1f} B/hash with the payload "
            f"({sess_mem / nat_mem:.3f}), {nat_fp_mem:.1f} B/hash with the same fields "
            f"({sess_mem / nat_fp_mem:.3f}), random PGET/HGET {median(ratio):.2f}")
        del tokens, keys
    c.call("FLUSHALL", "SYNC")
    return out


def fill_owned(c, sha, owners, per_owner, payload):
    """Owners 0..owners-1, each with `per_owner` sessions holding one payload."""
    batch = max(10000 // per_owner, 1)
    for first in range(0, owners, batch):
        last = min(first + batch, owners) - 1
        c.call("EVALSHA", sha, 0, first, last, OWNER_PREFIX, per_owner, SIGN_KEY, TTL,
               PAYLOAD_NAME, payload)


def owners_section(srv, filler, opt, log):
    """STARTFOR, SESSIONS and REVOKE at 1, 10 and 100 sessions per owner; memory per owned
    session against an unowned one."""
    c = srv.client
    sha = c.call("SCRIPT", "LOAD", FILL_OWNED).decode()
    payload = "x" * 100
    out = {}
    # STARTFOR of a fresh owner (its first session: the index is created) ÷ START.
    ratios, sf, st = [], [], []
    for rnd in range(opt.rounds):
        rates = {}
        runs = [("start", ["SESSIONGATE.START", SIGN_KEY, TTL], None),
                ("startfor", ["SESSIONGATE.STARTFOR", SIGN_KEY, OWNER_PREFIX + "__rand_int__", TTL],
                 RAND_RANGE)]
        for kind, args, rr in reversed(runs) if rnd % 2 else runs:
            c.call("FLUSHALL", "SYNC")
            rates[kind] = redis_benchmark(srv, args, opt.requests, opt.clients, opt.pipeline, rr)
        st.append(rates["start"])
        sf.append(rates["startfor"])
        ratios.append(rates["startfor"] / rates["start"])
    out["fresh"] = {"startfor_per_s": median(sf), "start_per_s": median(st),
                    "ratio": median(ratios), "ratios": ratios}
    log(f"  STARTFOR (a fresh owner each) ÷ START: {median(ratios):.2f}")
    total = opt.owner_sessions
    for k in PER_OWNER:
        owners = max(total // k, 1)
        n = owners * k
        r = {"owners": owners, "sessions": n}
        # Memory: owned sessions (and their indexes) against as many unowned ones.
        c.call("FLUSHALL", "SYNC")
        base = c.used_memory()
        fill_owned(c, sha, owners, k, payload)
        r["owned_bytes"] = (c.used_memory() - base) / n
        c.call("FLUSHALL", "SYNC")
        base = c.used_memory()
        filler.sessions(n, payload, want_tokens=False)
        r["unowned_bytes"] = (c.used_memory() - base) / n
        r["memory_ratio"] = r["owned_bytes"] / r["unowned_bytes"]
        write_pipe_file(srv.tmpfile("startfor"),
                        [("SESSIONGATE.STARTFOR", SIGN_KEY, f"{OWNER_PREFIX}{o:012d}", TTL)
                         for o in range(owners)])
        write_pipe_file(srv.tmpfile("start"), [("SESSIONGATE.START", SIGN_KEY, TTL)] * owners)
        write_pipe_file(srv.tmpfile("revoke"),
                        [("SESSIONGATE.REVOKE", SIGN_KEY, f"{OWNER_PREFIX}{o:012d}")
                         for o in range(owners)])
        add, sessions, revoke = [], [], []
        for _ in range(opt.size_rounds):
            # One more session for each owner of k, against as many STARTs.
            c.call("FLUSHALL", "SYNC")
            fill_owned(c, sha, owners, k, payload)
            a = pipe_rate(srv, srv.tmpfile("startfor"), owners)
            c.call("FLUSHALL", "SYNC")
            fill_owned(c, sha, owners, k, payload)
            b = pipe_rate(srv, srv.tmpfile("start"), owners)
            add.append((a, b, a / b))
            # SESSIONS of random owners of k sessions, one payload name.
            c.call("FLUSHALL", "SYNC")
            fill_owned(c, sha, owners, k, payload)
            sessions.append(redis_benchmark(
                srv, ["SESSIONGATE.SESSIONS", SIGN_KEY, OWNER_PREFIX + "__rand_int__",
                      PAYLOAD_NAME], max(opt.requests // k, 1000), opt.clients,
                max(opt.pipeline // 4, 1), owners))
            # REVOKE of every session of each owner, once per owner.
            revoke.append(pipe_rate(srv, srv.tmpfile("revoke"), owners))
            if c.call("DBSIZE") != 0:
                sys.exit("REVOKE left keys behind")
        r["startfor_per_s"] = median([x[0] for x in add])
        r["start_per_s"] = median([x[1] for x in add])
        r["startfor_ratio"] = median([x[2] for x in add])
        r["sessions_per_s"] = median(sessions)
        r["revoke_per_s"] = median(revoke)
        out[k] = r
        log(f"  {k} per owner: STARTFOR ÷ START {r['startfor_ratio']:.2f}, SESSIONS "
            f"{fmt_rate(r['sessions_per_s'])}/s, REVOKE {fmt_rate(r['revoke_per_s'])} owners/s, "
            f"{r['owned_bytes']:.1f} B/owned session vs {r['unowned_bytes']:.1f} "
            f"({r['memory_ratio']:.3f})")
        for name in ("startfor", "start", "revoke"):
            os.remove(srv.tmpfile(name))
    c.call("FLUSHALL", "SYNC")
    return out


def owners_report(o):
    L = ["### Owners (DESIGN §1b)", ""]
    f = o["fresh"]
    L.append(f"STARTFOR of a fresh owner (its first session; the index is created) ÷ START "
             f"(redis-benchmark, median of rounds): **{f['ratio']:.2f}** "
             f"({fmt_rate(f['startfor_per_s'])} vs {fmt_rate(f['start_per_s'])} ops/s; "
             f"rounds {min(f['ratios']):.2f}–{max(f['ratios']):.2f}).")
    L.append("")
    L.append("| sessions per owner | owners | STARTFOR ÷ START (one more each, --pipe) | "
             "SESSIONS ops/s (1 payload name) | sessions listed/s | REVOKE owners/s | "
             "sessions revoked/s | bytes/owned session | bytes/unowned | ratio |")
    L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in PER_OWNER:
        r = o.get(k) or o.get(str(k))
        L.append(f"| {k} | {r['owners']:,} | **{r['startfor_ratio']:.2f}** "
                 f"({fmt_rate(r['startfor_per_s'])} vs {fmt_rate(r['start_per_s'])}) | "
                 f"{fmt_rate(r['sessions_per_s'])} | {fmt_rate(r['sessions_per_s'] * k)} | "
                 f"{fmt_rate(r['revoke_per_s'])} | {fmt_rate(r['revoke_per_s'] * k)} | "
                 f"{r['owned_bytes']:.1f} | {r['unowned_bytes']:.1f} | "
                 f"**{r['memory_ratio']:.3f}** |")
    L.append("")
    return L


def payload_sizes(srv, filler, opt, log):
    c = srv.client
    out = {}
    # (size, redis-benchmark requests / clients / pipeline for reads, pipe commands for writes:
    # 100-200 MB of payload for the large sizes, so each run lasts far longer than its setup)
    plans = [(100, opt.requests, opt.clients, opt.pipeline, opt.pipe_requests),
             (10_000, max(opt.requests // 10, 1000), opt.clients, 4, opt.pipe_requests // 15),
             (1_000_000, max(opt.requests // 1000, 100), 4, 1, max(opt.pipe_requests // 1500, 20))]
    for size, n, clients, pipeline, m in plans:
        c.call("FLUSHALL", "SYNC")
        payload = "x" * size
        token = filler.sessions(1, payload)[0].decode()
        nkey = filler.native(1, payload)[0]
        write_pipe_file(srv.tmpfile("hset"), [("HSET", nkey, PAYLOAD_NAME, payload)] * m)
        write_pipe_file(srv.tmpfile("pset"),
                        [("SESSIONGATE.PSET", SIGN_KEY, token, PAYLOAD_NAME, payload)] * m)
        res = {"get": [], "set": [], "hget": [], "pget": [], "hset": [], "pset": []}
        for _ in range(opt.size_rounds):
            a = redis_benchmark(srv, ["HGET", nkey, PAYLOAD_NAME], n, clients, pipeline)
            b = redis_benchmark(srv, ["SESSIONGATE.PGET", SIGN_KEY, token, PAYLOAD_NAME],
                                n, clients, pipeline)
            res["hget"].append(a)
            res["pget"].append(b)
            res["get"].append(b / a)
            a = pipe_rate(srv, srv.tmpfile("hset"), m)
            b = pipe_rate(srv, srv.tmpfile("pset"), m)
            res["hset"].append(a)
            res["pset"].append(b)
            res["set"].append(b / a)
        out[size] = {
            "hget_per_s": median(res["hget"]),
            "pget_per_s": median(res["pget"]),
            "get_ratio": median(res["get"]),
            "hset_per_s": median(res["hset"]),
            "pset_per_s": median(res["pset"]),
            "set_ratio": median(res["set"]),
        }
        log(f"  {size} B: PGET/HGET {median(res['get']):.2f}, PSET/HSET {median(res['set']):.2f}")
        os.remove(srv.tmpfile("hset"))
        os.remove(srv.tmpfile("pset"))
    c.call("FLUSHALL", "SYNC")
    return out


# ---------------------------------------------------------------- report


def fmt_rate(x):
    return f"{x / 1000:,.0f}k"


def verdict(ratio, goal, lower_is_better=False):
    if goal is None:
        return "(no goal)"
    ok = ratio <= goal if lower_is_better else ratio >= goal
    return "met" if ok else "**missed**"


def native_label(module_cmd, native_cmd):
    return f"{native_cmd} (new key)" if module_cmd == "START" else native_cmd


def spread(r):
    return f"{min(r['ratios']):.2f}–{max(r['ratios']):.2f}"


def report(results):
    m = results["machine"]
    o = results["options"]
    L = []
    L.append(f"Run {m['date']} on {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, "
             f"load average at start {m['loadavg_at_start'].split(' ')[:3]}.")
    L.append(f"Server: `{m['server']}`; `{m['redis_benchmark']}`; module commit {m['module_commit']}.")
    L.append(f"Options: {o['rounds']} rounds, redis-benchmark -n {o['requests']} -c {o['clients']} "
             f"-P {o['pipeline']}; redis-cli --pipe runs of {o['pipe_requests']} commands; "
             f"random reads: at least {o.get('random_reads', '?')} per run.")
    if "pipe_overhead_ms" in results:
        L.append(f"Each redis-cli --pipe run is its wall time less "
                 f"{results['pipe_overhead_ms']:.1f} ms, the median of 9 empty runs (the fixed "
                 f"cost of starting redis-cli, connecting and the closing round trip); "
                 f"redis-benchmark figures are its own.")
    L.append("")
    t = results["throughput"]
    if t:
        L.append("### Throughput against the floor (median of per-round ratios)")
        L.append("")
        L.append("Goals: Session Gate ÷ floor (DESIGN §6). Beside them, Session Gate ÷ native and "
                 "floor ÷ native (the price of the module API), from the same runs.")
        L.append("")
        L.append("| command | floor | native | ops/s: module | floor | native | **÷ floor** | "
                 "min–max over rounds | goal | | ÷ native | floor ÷ native |")
        L.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
        for m, f, n, goal in HOT:
            r, rn, rf = t[f"{m}/{f}"], t[f"{m}/{n}"], t[f"{f}/{n}"]
            L.append(f"| {m} | {f} | {native_label(m, n)} | {fmt_rate(r['module_median'])} | "
                     f"{fmt_rate(r['base_median'])} | {fmt_rate(rn['base_median'])} | "
                     f"**{r['ratio_median']:.3f}** | {spread(r)} | ≥ {goal:.2f} | "
                     f"{verdict(r['ratio_median'], goal)} | {rn['ratio_median']:.3f} | "
                     f"{rf['ratio_median']:.3f} |")
        L.append("")
        L.append("### Other commands against native (no goal)")
        L.append("")
        L.append("| ratio | module ops/s | native ops/s | median ratio | min–max over rounds |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        for name in OTHER:
            r = t[name]
            L.append(f"| {name.replace('/', ' ÷ ')} | {fmt_rate(r['module_median'])} | "
                     f"{fmt_rate(r['base_median'])} | **{r['ratio_median']:.3f}** | {spread(r)} |")
        L.append("")
    L.append("### Memory and session count (one 100-byte payload per session)")
    L.append("")
    L.append(f"| keys | bytes/session | bytes/native hash (same fields) + TTL | "
             f"ratio (goal ≤ {MEMORY_GOAL:.2f}) | bytes/native hash (payload only) + TTL | ratio | "
             f"creation: sessions/s | hashes/s | random PGET ÷ HGET (goal ≥ "
             f"{RANDOM_READ_GOAL:.2f} at {RANDOM_READ_GOAL_KEYS:,} keys) |")
    L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, r in results["count"].items():
        same = r["memory_ratio_same_fields"]
        random_read = r["random_read_ratio"]
        random_goal = RANDOM_READ_GOAL if int(n) >= RANDOM_READ_GOAL_KEYS else None
        L.append(f"| {int(n):,} | {r['session_bytes']:.1f} | {r['native_same_fields_bytes']:.1f} | "
                 f"**{same:.3f}** {verdict(same, MEMORY_GOAL, True)} | "
                 f"{r['native_bytes']:.1f} | {r['memory_ratio']:.3f} | "
                 f"{fmt_rate(r['session_fill_per_s'])} | {fmt_rate(r['native_fill_per_s'])} | "
                 f"**{random_read:.2f}** "
                 f"{verdict(random_read, random_goal) + ' ' if random_goal else ''}"
                 f"({fmt_rate(r['random_pget_per_s'])} vs {fmt_rate(r['random_hget_per_s'])}; "
                 f"{r.get('random_reads', 0):,} reads) |")
    L.append("")
    L.append("### Payload size (one session, one native hash)")
    L.append("")
    L.append("| payload | PGET ops/s | HGET ops/s | PGET ÷ HGET | PSET ops/s | HSET ops/s | PSET ÷ HSET |")
    L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, r in results["sizes"].items():
        size = int(size)
        label = f"{size} B" if size < 1000 else f"{size // 1000:,} KB" if size < 10**6 else "1 MB"
        L.append(f"| {label} | {r['pget_per_s']:,.0f} | {r['hget_per_s']:,.0f} | "
                 f"**{r['get_ratio']:.2f}** | {r['pset_per_s']:,.0f} | {r['hset_per_s']:,.0f} | "
                 f"**{r['set_ratio']:.2f}** |")
    L.append("")
    if results.get("owners"):
        L += owners_report(results["owners"])
    return "\n".join(L)


def svg_chart(results):
    """Horizontal bars of the median ratios, per-round dots, and the goals."""
    rows = []
    t = results["throughput"]
    if t:
        for m, f, _, goal in HOT:
            r = t[f"{m}/{f}"]
            rows.append((f"{m} ÷ {f}", r["ratio_median"], r["ratios"], goal, False))
        for m, _, n, _ in HOT:
            r = t[f"{m}/{n}"]
            rows.append((f"{m} ÷ {native_label(m, n)}", r["ratio_median"], r["ratios"], None,
                         False))
        for name in OTHER:
            r = t[name]
            rows.append((name.replace("/", " ÷ "), r["ratio_median"], r["ratios"], None, False))
    counts = results["count"]
    if counts:
        n = max(counts, key=lambda k: int(k))
        c = counts[n]
        rows.append((f"memory/session ({int(n):,} keys)", c["memory_ratio_same_fields"], [],
                     MEMORY_GOAL, True))
        rows.append((f"random PGET ÷ HGET ({int(n):,} keys)", c["random_read_ratio"], [],
                     RANDOM_READ_GOAL if int(n) >= RANDOM_READ_GOAL_KEYS else None, False))
    width, left, right, top, bar_h, gap = 760, 230, 40, 68, 22, 12
    scale_max = max(1.2, max((max([r[1]] + r[2]) for r in rows), default=1) * 1.05)
    plot_w = width - left - right
    height = top + len(rows) * (bar_h + gap) + 50

    def x(v):
        return left + plot_w * v / scale_max

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
         f'Session Gate ÷ floor (goals) and ÷ native (median of rounds; dots: rounds)'
         f'</text>',
         f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">'
         f'{results["machine"]["server"].split(" sha=")[0]}, {results["machine"]["nproc"]} CPUs, '
         f'{results["machine"]["date"]}</text>',
         f'<text x="{width / 2}" y="54" text-anchor="middle" fill="#555">'
         f'black tick: goal (memory: at most); green: met, red: missed, blue: no goal</text>']
    tick = 0.0
    while tick <= scale_max + 1e-9:
        s.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" '
                 f'y2="{height - 40}" stroke="#ddd"/>')
        s.append(f'<text x="{x(tick):.1f}" y="{height - 26}" text-anchor="middle" fill="#555">'
                 f'{tick:.1f}</text>')
        tick += 0.2
    s.append(f'<line x1="{x(1):.1f}" y1="{top - 4}" x2="{x(1):.1f}" y2="{height - 40}" '
             f'stroke="#888" stroke-dasharray="4,3"/>')
    for i, (label, value, dots, goal, lower) in enumerate(rows):
        y = top + i * (bar_h + gap)
        ok = goal is None or (value <= goal if lower else value >= goal)
        color = "#4a90d9" if goal is None else ("#3a9d5d" if ok else "#d9534f")
        s.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{label}</text>')
        s.append(f'<rect x="{left}" y="{y}" width="{x(value) - left:.1f}" height="{bar_h}" '
                 f'fill="{color}" opacity="0.85"/>')
        for d in dots:
            s.append(f'<circle cx="{x(d):.1f}" cy="{y + bar_h / 2:.1f}" r="2.5" fill="#222" '
                     f'opacity="0.6"/>')
        if goal is not None:
            s.append(f'<line x1="{x(goal):.1f}" y1="{y - 3}" x2="{x(goal):.1f}" '
                     f'y2="{y + bar_h + 3}" stroke="black" stroke-width="2.5"/>')
        s.append(f'<text x="{x(max([value, goal or 0] + dots)) + 8:.1f}" y="{y + bar_h * 0.7:.1f}">'
                 f'{value:.3f}</text>')
    s.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle" fill="#555">'
             f'ratio (throughput: higher is better; memory: lower is better)</text>')
    s.append("</svg>")
    return "\n".join(s) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--module", default=str(ROOT / "target/release/libsessiongate.so"))
    p.add_argument("--floor", default=str(ROOT / "target/release/libsessiongate_floor.so"),
                   help="the floor module (bench/floor), loaded next to --module")
    p.add_argument("--out", default=str(ROOT / "bench/out"))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--requests", type=int, default=1_000_000, help="redis-benchmark -n")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c")
    p.add_argument("--pipeline", type=int, default=16, help="redis-benchmark -P")
    p.add_argument("--pipe-requests", type=int, default=300_000,
                   help="commands per redis-cli --pipe run")
    p.add_argument("--random-reads", type=int, default=1_000_000,
                   help="at least this many random-key reads per run of the session-count "
                        "section (whole shuffled passes over the keys)")
    p.add_argument("--size-rounds", type=int, default=5,
                   help="rounds of the payload-size and session-count sections")
    p.add_argument("--counts", default="10000,1000000", help="session counts, comma-separated")
    p.add_argument("--only", default="throughput,count,sizes,owners",
                   help="sections to run, comma-separated: throughput, count, sizes, owners")
    p.add_argument("--owner-sessions", type=int, default=100_000,
                   help="owned sessions per fill of the owners section (owners × sessions each)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (figures are rough)")
    p.add_argument("--render", metavar="RESULTS_JSON",
                   help="only rewrite report.md and ratios.svg in --out from a results.json")
    opt = p.parse_args()
    if opt.render:
        results = json.loads(Path(opt.render).read_text())
        if results["throughput"] and "PGET/FLOOR.PGET" not in results["throughput"]:
            sys.exit(f"{opt.render} was written before the floor of DESIGN §6 (same arguments "
                     f"as the module): rerun `make bench`")
        write_outputs(results, Path(opt.out))
        return
    if opt.quick:
        opt.rounds, opt.requests, opt.pipe_requests, opt.size_rounds = 2, 100_000, 30_000, 1
        opt.counts, opt.random_reads = "10000,100000", 100_000
        opt.owner_sessions = 10_000
    opt.counts = [int(x) for x in opt.counts.split(",") if x]
    for tool in ("redis-benchmark", "redis-cli", os.environ.get("REDIS_SERVER", "redis-server")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install redis-server and redis-tools")
    if not os.path.exists(opt.module):
        sys.exit(f"{opt.module} is missing: run `cargo build --release` (make bench does)")
    if not os.path.exists(opt.floor):
        sys.exit(f"{opt.floor} is missing: run `cargo build --release -p sessiongate-floor` "
                 f"(make bench does)")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    # Every way out (error, Ctrl-C, SIGTERM, SIGHUP) goes through the finally below.
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    started = time.monotonic()
    results = {"machine": machine_info(), "options": {
        k: getattr(opt, k) for k in ("rounds", "requests", "clients", "pipeline",
                                     "pipe_requests", "random_reads", "size_rounds", "counts",
                                     "only", "owner_sessions")}}
    srv = Server([opt.module, opt.floor])
    try:
        log(f"redis-server with {opt.module} and {opt.floor} on 127.0.0.1:{srv.port}")
        srv.pipe_overhead = measure_pipe_overhead(srv)
        results["pipe_overhead_ms"] = srv.pipe_overhead * 1000
        log(f"fixed cost of a redis-cli --pipe run: {srv.pipe_overhead * 1000:.1f} ms "
            f"(median of 9 empty runs), subtracted from every --pipe run")
        filler = Filler(srv.client)
        sections = opt.only.split(",")
        results["throughput"], results["count"], results["sizes"] = {}, {}, {}
        if "throughput" in sections:
            log("throughput, alternating rounds:")
            results["throughput"] = throughput(srv, filler, opt, log)
        if "count" in sections:
            log("memory and session count:")
            results["count"] = memory_and_count(srv, filler, opt, log)
        if "sizes" in sections:
            log("payload size:")
            results["sizes"] = payload_sizes(srv, filler, opt, log)
        if "owners" in sections:
            log("owners:")
            results["owners"] = owners_section(srv, filler, opt, log)
    finally:
        srv.stop()
    results["seconds"] = round(time.monotonic() - started, 1)
    write_outputs(results, Path(opt.out))


def write_outputs(results, out):
    out.mkdir(parents=True, exist_ok=True)
    text = report(results) + f"\nWhole run: {results['seconds']} s.\n"
    (out / "report.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "ratios.svg").write_text(svg_chart(results))
    print(text)
    print(f"written: {out}/report.md, results.json, ratios.svg", file=sys.stderr)


if __name__ == "__main__":
    main()
