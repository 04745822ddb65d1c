// node-redis (package `redis`, the version in package-lock.json) through the whole session
// lifecycle, in the topology SG_TOPOLOGY names (run.py starts the servers). The functions marked
// "recipe" are the code docs/clients.md shows. node-redis speaks RESP2 or RESP3 (`RESP: 3`);
// error replies reach the application as ErrorReply with the server's text unchanged.
"use strict";

const { createClient, createCluster, ErrorReply, RESP_TYPES } = require("redis");
const {
  E,
  KEY,
  assert,
  harness,
  lifecycle,
  ok,
  owners,
  ownersOnReplica,
  ownersReshard,
  readThroughReplicas,
  replicaReads,
  reshard,
  run,
  say,
  sessionsUntilTwoShareASlot,
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
      await owners(
        { cmd: send, renew: (...a) => send("SESSIONGATE.RENEW", ...a), Error: ErrorReply },
        `alice-resp${RESP}@example.com`,
      );
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
    await ownersOnReplica({
      primary: (...a) => p.sendCommand(a, { typeMapping }),
      replica: (...a) => r.sendCommand(a, { typeMapping }),
      primaryWait: () => p.sendCommand(["WAIT", "1", "5000"]),
      Error: ErrorReply,
    });
    say("the replica lists an owner's sessions as the primary does; STARTFOR, REVOKE refused: ok");
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
      // The owner commands name the owner as argv[2]: give it as the firstKey, the same recipe.
      await owners(
        {
          cmd: (name, ...a) => sg(c, name, ...a),
          renew: (...a) => sg(c, "SESSIONGATE.RENEW", ...a),
          Error: ErrorReply,
          noEmptyKey: true,
        },
        `{user}:resp${RESP}`,
      );
    } finally {
      c.destroy();
    }
  }
  let after = await harness("counts");
  assert.deepEqual([after.MOVED - before.MOVED, after.ASK - before.ASK], [0, 0]);
  say(
    "lifecycle and errors over RESP2 and RESP3, START on cluster.masters via nodeClient, " +
      "token commands, RENEW and the owner commands routed by argv[2] as firstKey: ok, " +
      "0 MOVED, 0 ASK",
  );

  // Reads spread over each slot's primary and replicas.
  const cluster = await createCluster({ rootNodes, RESP: 3, useReplicas: true }).connect();
  try {
    const masters = await Promise.all(cluster.masters.map((m) => cluster.nodeClient(m)));
    assert.equal(masters.length, 3);

    const c = {
      cluster,
      sg,
      readReplicaFirst,
      withRetry,
      startOn: (i, ttl) => masters[i % 3].sendCommand(["SESSIONGATE.START", KEY, ttl]),
      primaryRead: (t, name) =>
        cluster.sendCommand(t, false, ["SESSIONGATE.PGET", KEY, t, name], { typeMapping }),
      inTransit: (e) => e instanceof ErrorReply && e.message.startsWith("TRYAGAIN"),
      inTransitNote: "answered ErrorReply TRYAGAIN (node-redis does not retry it)",
      connectStale: () => createCluster({ rootNodes, RESP: 3 }).connect(),
      close: (client) => client.destroy(),
      Error: ErrorReply,
    };
    const { sessions, slot, inSlot } = await sessionsUntilTwoShareASlot(c);

    // RENEW without a firstKey goes to whichever node node-redis takes next (a round robin over
    // every node, replicas included, from a random start, restarted after a MOVED, whose retry
    // has no key either): a primary renews the session, a replica refuses (READONLY) and the
    // session stays as it was. Calls go on until each outcome was seen three times (about one
    // call in four renews: 200 calls leave no room for chance), and every outcome is read back
    // from the sessions' primaries.
    before = await harness("counts");
    const outcomes = { renewed: 0, readonly: 0 };
    let calls = 0;
    for (let i = 0; i < 200 && (outcomes.renewed < 3 || outcomes.readonly < 3); i++) {
      calls++;
      const t = String(await c.startOn(i, "60"));
      assert.equal(String(await sg(cluster, "SESSIONGATE.PSET", KEY, t, "n", String(i))), "OK");
      let renewed;
      try {
        renewed = String(await cluster.sendCommand(undefined, false, ["SESSIONGATE.RENEW", KEY, t]));
      } catch (e) {
        assert.ok(e instanceof ErrorReply && e.message === E.readonly, e.message);
        outcomes.readonly++;
        assert.equal(String(await c.primaryRead(t, "n")), String(i), "a refused RENEW changed the session");
        continue;
      }
      outcomes.renewed++;
      assert.match(renewed, /^v1\.[0-9A-Za-z]{16}\.[0-9a-f]{64}$/);
      assert.notEqual(renewed, t);
      assert.equal(String(await c.primaryRead(renewed, "n")), String(i));
      await assert.rejects(c.primaryRead(t, "n"), (e) => e instanceof ErrorReply && e.message === E.no_session);
      const ttl = Number(await cluster.sendCommand(renewed, false, ["SESSIONGATE.TTL", KEY, renewed]));
      assert.ok(ttl > 0 && ttl <= 60, `the renewed session's TTL is ${ttl}`);
    }
    after = await harness("counts");
    const moved = after.MOVED - before.MOVED;
    assert.equal(outcomes.renewed + outcomes.readonly, calls);
    assert.ok(outcomes.renewed >= 3 && outcomes.readonly >= 3, `${calls} calls: ${JSON.stringify(outcomes)}`);
    say(
      `RENEW with no firstKey, ${calls} calls: ${outcomes.renewed} renewed, ` +
        `${outcomes.readonly} refused by a replica (READONLY), ${moved} MOVED on the way; ` +
        "every session read back: ok",
    );

    for (const m of masters) assert.equal(Number(await m.sendCommand(["WAIT", "1", "5000"])), 1);
    const reads = await readThroughReplicas(c, sessions);
    assert.equal(reads.replicas + reads.primaries, reads.reads);
    assert.ok(reads.replicas > 0, "no read reached a replica");
    say(
      `${sessions.size} sessions; ${reads.replicas} of ${reads.reads} reads served by ` +
        "replicas (useReplicas spreads them over primary and replica): ok",
    );

    await reshard(c, sessions, slot, inSlot);
    await ownersReshard(c);
  } finally {
    cluster.destroy();
  }
}

run(() => ({ standalone, replica, cluster })[process.env.SG_TOPOLOGY]());
