"""redis-py (the version pinned in requirements.txt) through the whole session lifecycle, in the
topology SG_TOPOLOGY names (run.py starts the servers and passes their ports). The functions
marked "recipe" are the code docs/clients.md shows.

redis-py 8 speaks RESP3 unless told `protocol=2`, and hands an error reply to the application
as ResponseError (ReadOnlyError for READONLY) whose text is the reply without a leading code
word it knows (`ERR `, `READONLY `); Session Gate's own errors have no such word and arrive whole.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

import redis
from redis.cluster import ClusterNode, LoadBalancingStrategy, RedisCluster
from redis.exceptions import (
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)

CONTRACT = json.loads((Path(__file__).parent / "contract.json").read_text())
KEY = CONTRACT["sign_key"].encode()
OTHER = CONTRACT["other_key"].encode()
E = CONTRACT["errors"]
TOKEN = re.compile(CONTRACT["token_pattern"].encode())
OWNED = re.compile(CONTRACT["owned_token_pattern"].encode())
BINARY = bytes(range(256))
# Redis 6.x has no map reply for modules: PGETALL is a flat list under RESP3 too.
MAPS = int(os.environ["SG_SERVER"].split()[1].split(".")[0]) >= 7


def harness(request):
    print(f"@harness {request}", flush=True)
    reply = json.loads(sys.stdin.readline() or '{"error": "the harness is gone"}')
    if "error" in reply:
        raise RuntimeError(f"harness: {reply['error']}")
    return reply


def expect_error(kind, text, call):
    """`call` must raise `kind` (exactly that class) with exactly `text`."""
    try:
        got = call()
    except ResponseError as e:
        assert type(e) is kind, f"{type(e).__name__} instead of {kind.__name__}: {e}"
        assert str(e) == text, f"{str(e)!r} != {text!r}"
        return
    raise AssertionError(f"expected {kind.__name__}({text!r}), got {got!r}")


def as_dict(reply):
    """PGETALL: a map under RESP3, a flat name/data list under RESP2."""
    if isinstance(reply, dict):
        return reply
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return dict(zip(reply[::2], reply[1::2]))


def lifecycle(cmd, start, renew, resp):
    """Every command and the errors an application meets. `cmd(*args)` runs a token command,
    `start(*args)` and `renew(*args)` send those (keyless) commands where they must go; `resp`
    is 2 or 3, the protocol `cmd` speaks."""
    t = start(KEY, 300)
    assert TOKEN.match(t), t
    assert cmd("SESSIONGATE.PSET", KEY, t, "user", "alice") == b"OK"
    assert cmd("SESSIONGATE.PSET", KEY, t, "bin", BINARY) == b"OK"
    assert cmd("SESSIONGATE.PGET", KEY, t, "user") == b"alice"
    assert cmd("SESSIONGATE.PGET", KEY, t, "bin") == BINARY
    everything = cmd("SESSIONGATE.PGETALL", KEY, t)
    assert isinstance(everything, dict if resp == 3 and MAPS else list), (resp, everything)
    assert as_dict(everything) == {b"user": b"alice", b"bin": BINARY}, everything
    assert 290 < cmd("SESSIONGATE.TTL", KEY, t) <= 300
    assert cmd("SESSIONGATE.EXPIRE", KEY, t, 1000) == b"OK"
    assert 990 < cmd("SESSIONGATE.TTL", KEY, t) <= 1000

    # RENEW: a new token for the same session; the old one is gone at once.
    t2 = renew(KEY, t)
    assert TOKEN.match(t2) and t2 != t, t2
    expect_error(ResponseError, E["no_session"], lambda: cmd("SESSIONGATE.PGET", KEY, t, "user"))
    assert cmd("SESSIONGATE.PGET", KEY, t2, "user") == b"alice"
    assert 990 < cmd("SESSIONGATE.TTL", KEY, t2) <= 1000
    # ... and onto a new sign key (key rotation), then back.
    t3 = renew(KEY, t2, OTHER)
    assert cmd("SESSIONGATE.PGET", OTHER, t3, "bin") == BINARY
    expect_error(
        ResponseError, E["bad_signature"], lambda: cmd("SESSIONGATE.PGET", KEY, t3, "user")
    )
    t = renew(OTHER, t3, KEY)

    assert cmd("SESSIONGATE.PDEL", KEY, t, "bin") == b"OK"
    expect_error(ResponseError, E["no_payload"], lambda: cmd("SESSIONGATE.PGET", KEY, t, "bin"))
    assert as_dict(cmd("SESSIONGATE.PGETALL", KEY, t)) == {b"user": b"alice"}

    # The absolute cap: neither EXPIRE nor RENEW takes the session past START's max_lifetime.
    capped = start(KEY, 300, 60)
    assert 50 < cmd("SESSIONGATE.TTL", KEY, capped) <= 60
    assert cmd("SESSIONGATE.EXPIRE", KEY, capped, 3600) == b"OK"
    assert 50 < cmd("SESSIONGATE.TTL", KEY, capped) <= 60
    capped = renew(KEY, capped)
    assert 50 < cmd("SESSIONGATE.TTL", KEY, capped) <= 60

    # Errors reach the application as ResponseError with the module's exact text.
    expect_error(
        ResponseError, E["bad_signature"], lambda: cmd("SESSIONGATE.PGET", OTHER, t, "user")
    )
    expect_error(
        ResponseError, E["token_format"], lambda: cmd("SESSIONGATE.PGET", KEY, "nope", "user")
    )
    expect_error(ResponseError, E["ttl"], lambda: cmd("SESSIONGATE.EXPIRE", KEY, t, "soon"))
    expect_error(
        ResponseError, E["empty_payload_name"], lambda: cmd("SESSIONGATE.PSET", KEY, t, "", "x")
    )
    expect_error(ResponseError, E["max_lifetime"], lambda: start(KEY, 300, 0))
    expect_error(ResponseError, E["empty_new_sign_key"], lambda: renew(KEY, t, b""))
    # redis-py drops the `ERR ` it recognises.
    expect_error(
        ResponseError, E["arity_pget"].removeprefix("ERR "), lambda: cmd("sessiongate.pget", KEY, t)
    )

    assert cmd("SESSIONGATE.END", KEY, t) == b"OK"
    expect_error(ResponseError, E["no_session"], lambda: cmd("SESSIONGATE.PGET", KEY, t, "user"))
    expect_error(ResponseError, E["no_session"], lambda: cmd("SESSIONGATE.END", KEY, t))
    assert cmd("SESSIONGATE.END", KEY, capped) == b"OK"
    gone = start(KEY, 0)  # ttl 0: a well-formed token for a session that ended at once
    assert TOKEN.match(gone)
    expect_error(ResponseError, E["no_session"], lambda: cmd("SESSIONGATE.TTL", KEY, gone))


def owned_id(t):
    return t.split(b".")[2]


def owners(cmd, renew, owner):
    """STARTFOR, SESSIONS and REVOKE for `owner`, RENEW of an owned session, and their errors.
    `cmd(*args)` runs any command (in a cluster, redis-py routes the owner commands by their
    key, argv[2], as it does the token commands), `renew(*args)` sends RENEW where it must go."""
    ts = []
    for i in range(3):
        t = cmd("SESSIONGATE.STARTFOR", KEY, owner, 600)
        assert OWNED.match(t), t
        assert cmd("SESSIONGATE.PSET", KEY, t, "device", f"device-{i}") == b"OK"
        ts.append(t)
    listed = cmd("SESSIONGATE.SESSIONS", KEY, owner, "device", "absent")
    assert sorted(e[0] for e in listed) == sorted(owned_id(t) for t in ts), listed
    created = [e[1] for e in listed]
    assert created == sorted(created, reverse=True), "newest first"
    for _id, _created, ttl, device, absent in listed:
        assert 590 < ttl <= 600 and device.startswith(b"device-") and absent is None
    renewed = renew(KEY, ts[0])
    assert OWNED.match(renewed) and renewed.split(b".")[1] == ts[0].split(b".")[1], renewed
    expect_error(ResponseError, E["no_session"], lambda: cmd("SESSIONGATE.TTL", KEY, ts[0]))
    expect_error(ResponseError, E["owned_new_sign_key"], lambda: renew(KEY, renewed, OTHER))
    ts[0] = renewed
    expect_error(
        ResponseError, E["empty_owner"], lambda: cmd("SESSIONGATE.STARTFOR", KEY, "", 60)
    )
    expect_error(
        ResponseError,
        E["wrong_owner"],
        lambda: cmd("SESSIONGATE.REVOKE", KEY, owner + b"-other", "EXCEPT", ts[0]),
    )
    assert cmd("SESSIONGATE.SESSIONS", OTHER, owner) == []
    # All other sessions of the owner (a password change), then one by id, then all.
    assert cmd("SESSIONGATE.REVOKE", KEY, owner, "EXCEPT", ts[0]) == 2
    assert [e[0] for e in cmd("SESSIONGATE.SESSIONS", KEY, owner)] == [owned_id(ts[0])]
    extra = cmd("SESSIONGATE.STARTFOR", KEY, owner, 600)
    assert cmd("SESSIONGATE.REVOKE", KEY, owner, owned_id(extra), "AAAAAAAAAAAAAAAA") == 1
    assert cmd("SESSIONGATE.REVOKE", KEY, owner) == 1
    assert cmd("SESSIONGATE.SESSIONS", KEY, owner) == []
    expect_error(ResponseError, E["no_session"], lambda: cmd("SESSIONGATE.TTL", KEY, ts[0]))


def standalone():
    for resp in (2, 3):
        r = redis.Redis(
            host="127.0.0.1", port=int(os.environ["SG_PRIMARY"]), protocol=resp, socket_timeout=10
        )
        lifecycle(
            r.execute_command,
            lambda *a, r=r: r.execute_command("SESSIONGATE.START", *a),
            lambda *a, r=r: r.execute_command("SESSIONGATE.RENEW", *a),
            resp,
        )
        print(f"lifecycle and errors over RESP{resp}: ok", flush=True)
        owners(
            r.execute_command,
            lambda *a, r=r: r.execute_command("SESSIONGATE.RENEW", *a),
            f"alice-resp{resp}@example.com".encode(),
        )
        print(f"owners over RESP{resp}: STARTFOR, SESSIONS, REVOKE, owned RENEW: ok", flush=True)


def replica():
    primary = redis.Redis(host="127.0.0.1", port=int(os.environ["SG_PRIMARY"]), socket_timeout=10)
    replica = redis.Redis(host="127.0.0.1", port=int(os.environ["SG_REPLICA"]), socket_timeout=10)
    t = primary.execute_command("SESSIONGATE.START", KEY, 300)
    primary.execute_command("SESSIONGATE.PSET", KEY, t, "user", "alice")
    ended = primary.execute_command("SESSIONGATE.START", KEY, 300)
    primary.execute_command("SESSIONGATE.END", KEY, ended)
    # Recipe: a read that must see the write before it waits for the replica.
    assert primary.wait(1, 5000) == 1

    assert replica.execute_command("SESSIONGATE.PGET", KEY, t, "user") == b"alice"
    assert 290 < replica.execute_command("SESSIONGATE.TTL", KEY, t) <= 300
    assert as_dict(replica.execute_command("SESSIONGATE.PGETALL", KEY, t)) == {b"user": b"alice"}
    expect_error(
        ResponseError,
        E["no_session"],
        lambda: replica.execute_command("SESSIONGATE.PGET", KEY, ended, "user"),
    )
    expect_error(
        ResponseError,
        E["bad_signature"],
        lambda: replica.execute_command("SESSIONGATE.PGET", OTHER, t, "user"),
    )
    refused = E["readonly"].removeprefix("READONLY ")
    for write in (
        ("SESSIONGATE.START", KEY, 300),
        ("SESSIONGATE.START", KEY, 300, 60),
        ("SESSIONGATE.PSET", KEY, t, "user", "mallory"),
        ("SESSIONGATE.PDEL", KEY, t, "user"),
        ("SESSIONGATE.EXPIRE", KEY, t, 5),
        ("SESSIONGATE.RENEW", KEY, t),
        ("SESSIONGATE.END", KEY, t),
    ):
        expect_error(ReadOnlyError, refused, lambda w=write: replica.execute_command(*w))
    assert replica.execute_command("SESSIONGATE.PGET", KEY, t, "user") == b"alice"
    assert primary.execute_command("SESSIONGATE.PGET", KEY, t, "user") == b"alice"
    print(
        "replica reads PGET, TTL, PGETALL; every write refused with ReadOnlyError: ok", flush=True
    )
    for i in range(2):
        t = primary.execute_command("SESSIONGATE.STARTFOR", KEY, "replica-owner", 300)
        primary.execute_command("SESSIONGATE.PSET", KEY, t, "device", f"d{i}")
    assert primary.wait(1, 5000) == 1
    listing = ("SESSIONGATE.SESSIONS", KEY, "replica-owner", "device")
    on_replica = replica.execute_command(*listing)
    assert len(on_replica) == 2
    assert [(e[0], e[1], e[3]) for e in on_replica] == [
        (e[0], e[1], e[3]) for e in primary.execute_command(*listing)
    ]
    for write in (
        ("SESSIONGATE.STARTFOR", KEY, "replica-owner", 60),
        ("SESSIONGATE.REVOKE", KEY, "replica-owner"),
    ):
        expect_error(ReadOnlyError, refused, lambda w=write: replica.execute_command(*w))
    assert primary.execute_command("SESSIONGATE.REVOKE", KEY, "replica-owner") == 2
    print("the replica lists an owner's sessions as the primary does: ok", flush=True)


# --- Redis Cluster -------------------------------------------------------------------------


def with_retry(call, attempts=200, pause=0.05):
    """Recipe: while a slot moves, the importing node answers TRYAGAIN for a session still on
    its way. redis-py retries that for about 0.1 s, then raises ClusterError ("TTL exhausted")
    or TryAgainError: retry those (a bounded number of times), never treat them as a
    logged-out user."""
    for attempt in range(attempts):
        try:
            return call()
        except (ClusterError, TryAgainError):
            if attempt == attempts - 1:
                raise
            time.sleep(pause)


def start_on(rc, node, *args):
    """Recipe: START declares no key, so name the primary it runs on."""
    return rc.execute_command("SESSIONGATE.START", *args, target_nodes=node)


def renew(rc, *args, attempts=3):
    """Recipe: RENEW declares no key either; send it to the primary of the token's slot. A node
    that no longer serves the slot (a resharding the client has not seen yet) answers MOVED:
    redis-py cannot follow that for a keyless command and raises RedisClusterException, but it
    has learned the slot's owner from it, so asking again goes to the right node."""
    token = args[1]
    for attempt in range(attempts):
        try:
            return with_retry(
                lambda: rc.execute_command(
                    "SESSIONGATE.RENEW", *args, target_nodes=rc.get_node_from_key(token)
                )
            )
        except RedisClusterException:
            if attempt == attempts - 1:
                raise


def read_replica(rc, command, key, token, *rest):
    """Recipe: redis-py sends to replicas only the commands it knows as read-only; name the
    token's replica for PGET, TTL and PGETALL (the client must send READONLY on connect, which
    any load_balancing_strategy does). A replica may lack a session its primary has
    (replication lag, or a slot being moved away: Redis does not redirect replica reads), so
    "does not exist" from a replica is checked on the primary."""
    try:
        return rc.execute_command(
            command, key, token, *rest, target_nodes=rc.get_node_from_key(token, replica=True)
        )
    except ResponseError as e:
        if str(e) != E["no_session"]:
            raise
        return rc.execute_command(command, key, token, *rest)


def counts():
    return harness("counts")


def cluster():
    nodes = [
        ClusterNode("127.0.0.1", int(p)) for p in os.environ["SG_CLUSTER_PRIMARIES"].split(",")
    ]
    rc = RedisCluster(
        startup_nodes=nodes,
        protocol=2,
        socket_timeout=10,
        load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS,
    )
    rc3 = RedisCluster(startup_nodes=nodes, protocol=3, socket_timeout=10)
    primaries = rc.get_primaries()
    assert len(primaries) == 3

    # START with no target, or RANDOM: redis-py cannot route a command without a key.
    for target in ({}, {"target_nodes": RedisCluster.RANDOM}):
        try:
            rc.execute_command("SESSIONGATE.START", KEY, 300, **target)
            raise AssertionError(f"START {target} was sent somewhere")
        except RedisClusterException as e:
            assert "Missing key" in str(e), e

    before = counts()
    for which, c in ((2, rc), (3, rc3)):
        ps = c.get_primaries()
        lifecycle(
            c.execute_command,
            lambda *a, ps=ps, c=c: start_on(c, ps[0], *a),
            lambda *a, c=c: renew(c, *a),
            which,
        )
        owners(c.execute_command, lambda *a, c=c: renew(c, *a), f"{{user}}:resp{which}".encode())
    after = counts()
    assert after["MOVED"] == before["MOVED"] and after["ASK"] == before["ASK"], (before, after)
    print(
        "lifecycle and errors over RESP2 and RESP3, START on a named primary, RENEW on the "
        "token's primary, token and owner commands routed by redis-py: ok, 0 MOVED, 0 ASK",
        flush=True,
    )

    # Sessions on every primary, until two share a slot (that slot is resharded below).
    sessions, by_slot, pair_slot = {}, {}, None
    for i in range(5000):
        t = start_on(rc, primaries[i % 3], KEY, 600)
        sessions[t] = t[3:19]
        slot = rc.keyslot(t)
        assert rc.get_node_from_key(t) == primaries[i % 3], "a token outside its node's slots"
        by_slot.setdefault(slot, []).append(t)
        if len(by_slot[slot]) == 2:
            pair_slot = slot
            break
    assert pair_slot is not None
    for t, data in sessions.items():
        assert rc.execute_command("SESSIONGATE.PSET", KEY, t, "user", data) == b"OK"
    # Recipe: a replica read that must see a write waits for it on the primary first.
    for p in primaries:
        assert rc.execute_command("WAIT", 1, 5000, target_nodes=p) == 1

    reads = harness("reads")
    sample = list(sessions)[:30]
    for t in sample:
        assert read_replica(rc, "SESSIONGATE.PGET", KEY, t, "user") == sessions[t]
        assert 590 < read_replica(rc, "SESSIONGATE.TTL", KEY, t) <= 600
        assert as_dict(read_replica(rc, "SESSIONGATE.PGETALL", KEY, t)) == {b"user": sessions[t]}
    expect_error(
        ReadOnlyError,
        E["readonly"].removeprefix("READONLY "),
        lambda: rc.execute_command(
            "SESSIONGATE.START", KEY, 300, target_nodes=rc.get_replicas()[0]
        ),
    )
    now = harness("reads")
    assert now["replicas"] - reads["replicas"] == 3 * len(sample), (reads, now)
    assert now["primaries"] == reads["primaries"], (reads, now)
    print(f"{len(sessions)} sessions; {3 * len(sample)} reads served by replicas: ok", flush=True)

    # Reshard the slot holding two sessions while the client keeps working.
    in_slot = by_slot[pair_slot]
    m = harness(f"migrate {pair_slot}")
    stale = RedisCluster(startup_nodes=nodes, socket_timeout=10)  # knows the slot on the source
    print(
        f"slot {pair_slot}: moving from {m['source']} to {m['target']}, "
        f"{m['moved']} of {m['total']} sessions moved so far",
        flush=True,
    )
    served, in_transit = [], []
    for t in in_slot:
        try:
            assert rc.execute_command("SESSIONGATE.PGET", KEY, t, "user") == sessions[t]
            served.append(t)  # redis-py followed the source's ASK to the importing node
        except (ClusterError, TryAgainError) as e:
            assert "does not exist" not in str(e), e
            in_transit.append(t)
    assert (len(served), len(in_transit)) == (m["moved"], m["total"] - m["moved"]), m
    assert served and in_transit, m
    for t in served:  # the source's replica no longer holds it (or sends ASK: Valkey)
        assert read_replica(rc, "SESSIONGATE.PGET", KEY, t, "user") == sessions[t]
    print(
        f"mid-migration: {len(served)} served through ASK, {len(in_transit)} in transit "
        "raised ClusterError/TryAgainError after redis-py's own retries: ok",
        flush=True,
    )

    others = [t for t in sessions if t not in in_slot][:60]
    for i, t in enumerate(others):  # the other slots carry on meanwhile
        assert rc.execute_command("SESSIONGATE.EXPIRE", KEY, t, 900) == b"OK"
        fresh = start_on(rc, primaries[i % 3], KEY, 60)
        assert rc.execute_command("SESSIONGATE.END", KEY, fresh) == b"OK"

    # The retry recipe carries a session in transit through the move: its first try gives up
    # as above, and only then is the move let finish, so the retry is what absorbs it.
    tries = []

    def read_in_transit():
        tries.append(1)
        if len(tries) == 2:
            print("@harness finish", flush=True)  # the answer comes once the slot has moved
        return rc.execute_command("SESSIONGATE.PGET", KEY, in_transit[0], "user")

    t0 = time.monotonic()
    assert with_retry(read_in_transit) == sessions[in_transit[0]]
    waited = time.monotonic() - t0
    done = json.loads(sys.stdin.readline() or '{"error": "the harness is gone"}')
    assert done.get("finished") and len(tries) >= 2, (done, len(tries))
    for t in in_slot:
        pget = ("SESSIONGATE.PGET", KEY, t, "user")
        assert with_retry(lambda c=pget: rc.execute_command(*c)) == sessions[t]
        assert with_retry(lambda c=pget: read_replica(rc, *c)) == sessions[t]
        pset = ("SESSIONGATE.PSET", KEY, t, "after", "1")
        assert with_retry(lambda c=pset: rc.execute_command(*c)) == b"OK"
    print(
        f"resharding: the retry recipe carried a session in transit through the move "
        f"({len(tries)} tries, {waited:.2f} s); every session of the slot served after: ok",
        flush=True,
    )

    # RENEW through a client whose slot table predates the move: one MOVED, then the new owner.
    before, renewed = counts(), []
    for t in in_slot:
        renewed.append(renew(stale, KEY, t))
        sessions[renewed[-1]] = sessions.pop(t)
    # MOVED, as Redis answers for the token; or, while the old owner's slot cache (up to
    # cluster-cache-ms old) still says the slot migrates, ASK to the same new owner.
    after = counts()
    moved = after["MOVED"] - before["MOVED"] + after["ASK"] - before["ASK"]
    assert moved >= 1, "the stale client was never redirected: the check proves nothing"
    print(
        f"RENEW through a client that missed the move: {moved} MOVED or ASK, then served: ok",
        flush=True,
    )

    # Nothing lost: every session answers, with its payloads, through the client.
    for t, data in sessions.items():
        assert rc.execute_command("SESSIONGATE.PGET", KEY, t, "user") == data
    for t in in_slot:
        expect_error(
            ResponseError,
            E["no_session"],
            lambda t=t: rc.execute_command("SESSIONGATE.PGET", KEY, t, "user"),
        )
    for t in renewed:
        assert rc.execute_command("SESSIONGATE.PGET", KEY, t, "after") == b"1"
    print(f"after the move: all {len(sessions)} sessions intact: ok", flush=True)
    owners_reshard(rc)


def owners_reshard(rc):
    """An owner's slot moved while SESSIONS and REVOKE run: mid-move they fail (the module's
    TRYAGAIN, since neither node holds all of the owner's data, then redis-py's ClusterError or
    TryAgainError), never with a partial list or a partial revoke; the retry recipe carries them
    through the move, and after it the owner's sessions are all there."""
    owner = b"{owners-reshard}:alice"
    ts = [rc.execute_command("SESSIONGATE.STARTFOR", KEY, owner, 600) for _ in range(4)]
    m = harness(f"migrate {rc.keyslot(owner)}")
    print(f"owner's slot: moving, {m['moved']} of {m['total']} keys moved so far", flush=True)
    for command in ("SESSIONGATE.SESSIONS", "SESSIONGATE.REVOKE"):
        try:
            got = rc.execute_command(command, KEY, owner)
            raise AssertionError(f"{command} answered {got!r} with the owner's data split")
        except (ClusterError, TryAgainError) as e:
            assert "does not exist" not in str(e), e
    tries = []

    def listing():
        tries.append(1)
        if len(tries) == 2:
            print("@harness finish", flush=True)
        return rc.execute_command("SESSIONGATE.SESSIONS", KEY, owner)

    listed = with_retry(listing)
    done = json.loads(sys.stdin.readline() or '{"error": "the harness is gone"}')
    assert done.get("finished") and len(tries) >= 2, (done, len(tries))
    assert sorted(e[0] for e in listed) == sorted(owned_id(t) for t in ts)
    n = with_retry(lambda: rc.execute_command("SESSIONGATE.REVOKE", KEY, owner, "EXCEPT", ts[0]))
    assert n == 3, n
    assert [e[0] for e in rc.execute_command("SESSIONGATE.SESSIONS", KEY, owner)] == [
        owned_id(ts[0])
    ]
    print(
        f"owner's slot moved under SESSIONS and REVOKE: in transit until it moved "
        f"({len(tries)} tries), then every session listed and revoked: ok",
        flush=True,
    )


def main():
    {"standalone": standalone, "replica": replica, "cluster": cluster}[os.environ["SG_TOPOLOGY"]]()


if __name__ == "__main__":
    main()
