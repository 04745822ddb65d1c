// node-redis (package `redis`, the version in package-lock.json) through the whole session
// lifecycle, in the topology SG_TOPOLOGY names (run.py starts the servers). The functions marked
// "recipe" are the code docs/clients.md shows. node-redis speaks RESP2 or RESP3 (`RESP: 3`);
// error replies reach the application as ErrorReply with the server's text unchanged.
"use strict";

const { createClient, createCluster, ErrorReply, RESP_TYPES } = require("redis");
const calculateSlot = require("cluster-key-slot");
const {
  E,
  KEY,
  assert,
  between,
  expectError,
  harness,
  lifecycle,
  ok,
  payloads,
  replicaReads,
  run,
  sameBytes,
  say,
} = require("./common");

const HOST = "127.0.0.1";
// Bulk strings as Buffers (payloads are bytes), RESP3 maps as Map.
const typeMapping = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.MAP]: Map };
const READ_ONLY = new Set(["sessiongate.pget", "sessiongate.ttl", "sessiongate.pgetall"]);

/**
 * Recipe: node-redis routes `cluster.sendCommand(firstKey, isReadonly, args)` by the firstKey
 * it is given: give it the token (argv[2]) for every token command and for RENEW.
 */
function sg(cluster, name, ...args) {
  return cluster.sendCommand(args[1], READ_ONLY.has(name.toLowerCase()), [name, ...args], {
    typeMapping,
  });
}

/** Recipe: node-redis does not retry TRYAGAIN (a slot being moved): retry it, bounded. */
async function withRetry(call, attempts = 200, pauseMs = 50) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof ErrorReply) || !e.message.startsWith("TRYAGAIN") || attempt >= attempts)
        throw e;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

/** Recipe: a replica may lack a session its primary has (replication lag, a slot being moved). */
async function readReplicaFirst(cluster, name, ...args) {
  try {
    return await sg(cluster, name, ...args);
  } catch (e) {
    if (!(e instanceof ErrorReply) || e.message !== E.no_session) throw e;
    return cluster.sendCommand(args[1], false, [name, ...args], { typeMapping });
  }
}

async function standalone() {
  for (const RESP of [2, 3]) {
    const c = await createClient({
      socket: { host: HOST, port: Number(process.env.SG_PRIMARY) },
      RESP,
    }).connect();
    try {
      const send = (...a) => c.sendCommand(a, { typeMapping });
      await lifecycle({
        cmd: send,
        start: (...a) => send("SESSIONGATE.START", ...a),
        renew: (...a) => send("SESSIONGATE.RENEW", ...a),
        resp: RESP,
        Error: ErrorReply,
      });
    } finally {
      c.destroy();
    }
    say(`lifecycle and errors over RESP${RESP}: ok`);
  }
}

async function replica() {
  const p = await createClient({
    socket: { host: HOST, port: Number(process.env.SG_PRIMARY) },
    RESP: 3,
  }).connect();
  const r = await createClient({
    socket: { host: HOST, port: Number(process.env.SG_REPLICA) },
    RESP: 3,
  }).connect();
  try {
    await replicaReads({
      primary: (...a) => p.sendCommand(a, { typeMapping }),
      replica: (...a) => r.sendCommand(a, { typeMapping }),
      primaryWait: () => p.sendCommand(["WAIT", "1", "5000"]),
      Error: ErrorReply,
    });
    say("replica reads PGET, TTL, PGETALL; every write refused with ErrorReply READONLY: ok");
  } finally {
    p.destroy();
    r.destroy();
  }
}

async function cluster() {
  const primaries = process.env.SG_CLUSTER_PRIMARIES.split(",").map(Number);
  const rootNodes = primaries.map((port) => ({ socket: { host: HOST, port } }));
  let before = await harness("counts");
  for (const RESP of [2, 3]) {
    const c = await createCluster({ rootNodes, RESP }).connect();
    try {
      // START declares no key: run it on one of the cluster's primaries.
      const master = await c.nodeClient(c.masters[0]);
      await lifecycle({
        cmd: (name, ...a) => sg(c, name, ...a),
        start: (...a) => master.sendCommand(["SESSIONGATE.START", ...a], { typeMapping }),
        renew: (...a) => sg(c, "SESSIONGATE.RENEW", ...a),
        resp: RESP,
        Error: ErrorReply,
      });
    } finally {
      c.destroy();
    }
  }
  let after = await harness("counts");
  assert.deepEqual([after.MOVED - before.MOVED, after.ASK - before.ASK], [0, 0]);
  say(
    "lifecycle and errors over RESP2 and RESP3, START on cluster.masters via nodeClient, " +
      "token commands and RENEW routed by the token as firstKey: ok, 0 MOVED, 0 ASK",
  );

  // Reads spread over each slot's primary and replicas.
  const cluster = await createCluster({ rootNodes, RESP: 3, useReplicas: true }).connect();
  let stale;
  try {
    const masters = await Promise.all(cluster.masters.map((m) => cluster.nodeClient(m)));
    assert.equal(masters.length, 3);
    const start = (i, ttl) => masters[i % 3].sendCommand(["SESSIONGATE.START", KEY, ttl]);

    // Sessions on every primary, until two share a slot (that slot is resharded below).
    const sessions = new Map();
    const bySlot = new Map();
    let pairSlot;
    for (let i = 0; i < 5000 && pairSlot === undefined; i++) {
      const t = String(await start(i, "600"));
      sessions.set(t, t.slice(3, 19));
      const slot = calculateSlot(t);
      bySlot.set(slot, [...(bySlot.get(slot) || []), t]);
      if (bySlot.get(slot).length === 2) pairSlot = slot;
    }
    assert.ok(pairSlot !== undefined);
    for (const [t, data] of sessions)
      ok(await sg(cluster, "SESSIONGATE.PSET", KEY, t, "user", data));

    // RENEW without a firstKey goes to any node, replicas included: a primary answers it (after
    // a MOVED unless it serves the token), a replica refuses it.
    before = await harness("counts");
    const outcomes = { renewed: 0, readonly: 0 };
    for (let i = 0; i < 12; i++) {
      const t = String(await start(i, "60"));
      try {
        String(await cluster.sendCommand(undefined, false, ["SESSIONGATE.RENEW", KEY, t]));
        outcomes.renewed++;
      } catch (e) {
        assert.ok(e instanceof ErrorReply && e.message === E.readonly, e.message);
        outcomes.readonly++;
      }
    }
    after = await harness("counts");
    say(
      `RENEW with no firstKey: ${outcomes.renewed} renewed (${after.MOVED - before.MOVED} MOVED), ` +
        `${outcomes.readonly} refused by a replica (READONLY)`,
    );

    for (const m of masters) assert.equal(Number(await m.sendCommand(["WAIT", "1", "5000"])), 1);
    const reads = await harness("reads");
    const tokens = [...sessions.keys()].slice(0, 30);
    for (const t of tokens) {
      sameBytes(
        await readReplicaFirst(cluster, "SESSIONGATE.PGET", KEY, t, "user"),
        sessions.get(t),
      );
      between(await readReplicaFirst(cluster, "SESSIONGATE.TTL", KEY, t), 500, 600);
      assert.deepEqual(payloads(await readReplicaFirst(cluster, "SESSIONGATE.PGETALL", KEY, t)), {
        user: Buffer.from(sessions.get(t)).toString("hex"),
      });
    }
    const now = await harness("reads");
    const onReplicas = now.replicas - reads.replicas;
    assert.equal(onReplicas + now.primaries - reads.primaries, 3 * tokens.length);
    assert.ok(onReplicas > 0, "no read reached a replica");
    say(
      `${sessions.size} sessions; ${onReplicas} of ${3 * tokens.length} reads served by ` +
        "replicas (useReplicas spreads them over primary and replica): ok",
    );

    // Reshard the slot holding two sessions while the client keeps working.
    const inSlot = bySlot.get(pairSlot);
    const m = await harness(`migrate ${pairSlot}`);
    stale = await createCluster({ rootNodes, RESP: 3 }).connect(); // knows the slot on the source
    say(
      `slot ${pairSlot}: moving from ${m.source} to ${m.target}, ${m.moved} of ${m.total} moved so far`,
    );
    const primaryRead = (t, name) =>
      cluster.sendCommand(t, false, ["SESSIONGATE.PGET", KEY, t, name], { typeMapping });
    const served = [];
    const inTransit = [];
    for (const t of inSlot) {
      try {
        sameBytes(await primaryRead(t, "user"), sessions.get(t)); // ASK followed
        served.push(t);
      } catch (e) {
        assert.ok(e instanceof ErrorReply && e.message.startsWith("TRYAGAIN"), e.message);
        inTransit.push(t);
      }
    }
    assert.deepEqual([served.length, inTransit.length], [m.moved, m.total - m.moved]);
    assert.ok(served.length > 0 && inTransit.length > 0);
    for (const t of served) {
      // The source's replica no longer holds it (or sends ASK: Valkey).
      sameBytes(
        await readReplicaFirst(cluster, "SESSIONGATE.PGET", KEY, t, "user"),
        sessions.get(t),
      );
    }
    say(
      `mid-migration: ${served.length} served through ASK, ${inTransit.length} in transit answered ` +
        "ErrorReply TRYAGAIN (node-redis does not retry it): ok",
    );

    let i = 0;
    for (const t of [...sessions.keys()].filter((t) => !inSlot.includes(t)).slice(0, 60)) {
      // The other slots carry on meanwhile.
      ok(await sg(cluster, "SESSIONGATE.EXPIRE", KEY, t, "900"));
      const fresh = String(await start(i++, "60"));
      ok(await sg(cluster, "SESSIONGATE.END", KEY, fresh));
    }

    // The retry recipe carries a session in transit through the move: its first try gives up
    // as above, and only then is the move let finish, so the retry is what absorbs it.
    let tries = 0;
    let finished;
    const t0 = Date.now();
    sameBytes(
      await withRetry(() => {
        if (++tries === 2) finished = harness("finish"); // answered once the slot has moved
        return primaryRead(inTransit[0], "user");
      }),
      sessions.get(inTransit[0]),
    );
    const waited = (Date.now() - t0) / 1000;
    assert.ok(tries >= 2 && (await finished).finished);
    for (const t of inSlot) {
      sameBytes(await withRetry(() => primaryRead(t, "user")), sessions.get(t));
      ok(await withRetry(() => sg(cluster, "SESSIONGATE.PSET", KEY, t, "after", "1")));
      sameBytes(
        await withRetry(() => readReplicaFirst(cluster, "SESSIONGATE.PGET", KEY, t, "user")),
        sessions.get(t),
      );
    }
    say(
      `resharding: the retry recipe carried a session in transit through the move (${tries} tries, ` +
        `${waited.toFixed(2)} s); every session of the slot served after: ok`,
    );

    // RENEW through a client whose slot table predates the move: node-redis follows the MOVED.
    before = await harness("counts");
    const renewedHere = [];
    for (const t of inSlot) {
      const t2 = String(await sg(stale, "SESSIONGATE.RENEW", KEY, t));
      sessions.set(t2, sessions.get(t));
      sessions.delete(t);
      renewedHere.push(t2);
    }
    after = await harness("counts");
    assert.ok(after.MOVED > before.MOVED, "the stale client was never redirected");
    say(
      `RENEW through a client that missed the move: ${after.MOVED - before.MOVED} MOVED, then served: ok`,
    );

    // Nothing lost: every session answers, with its payloads, through the client.
    for (const [t, data] of sessions) sameBytes(await primaryRead(t, "user"), data);
    for (const t of inSlot) await expectError(ErrorReply, E.no_session, primaryRead(t, "user"));
    for (const t of renewedHere) sameBytes(await primaryRead(t, "after"), "1");
    say(`after the move: all ${sessions.size} sessions intact: ok`);
  } finally {
    cluster.destroy();
    if (stale) stale.destroy();
  }
}

run(() => ({ standalone, replica, cluster })[process.env.SG_TOPOLOGY]());
