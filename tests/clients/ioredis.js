// ioredis (the version in package-lock.json) through the whole session lifecycle, in the
// topology SG_TOPOLOGY names (run.py starts the servers). The functions marked "recipe" are the
// code docs/clients.md shows. ioredis speaks RESP2 only; error replies reach the application as
// ReplyError with the server's text unchanged.
"use strict";

const Redis = require("ioredis");
const calculateSlot = require("cluster-key-slot");
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
  sameBytes,
  say,
  sessionsUntilTwoShareASlot,
} = require("./common");

const { ReplyError } = Redis;
const HOST = "127.0.0.1";

// Recipe: ioredis routes by the keys of the commands in its own table; it does not know the
// module's commands, so it would send them to a random primary and follow MOVED (a redirect
// and a slot-table refresh per command). This command class names argv[2], the token, as the
// key: every token command, and RENEW, go straight to the token's node, in pipelines too.
class TokenCommand extends Redis.Command {
  getKeys() {
    return [this.args[1]];
  }
}
const READ_ONLY = new Set(["sessiongate.pget", "sessiongate.ttl", "sessiongate.pgetall"]);

/** Recipe: a token command (or RENEW) through a Cluster or a Redis; replies as Buffers. */
function sg(client, name, ...args) {
  const readOnly = READ_ONLY.has(name.toLowerCase()); // lets scaleReads send it to a replica
  return client.sendCommand(new TokenCommand(name, args, { replyEncoding: null, readOnly }));
}

/**
 * Recipe: while a slot moves, the importing node answers TRYAGAIN for a session still on its
 * way. ioredis retries that on a random node, follows the redirects, and gives up after
 * maxRedirections (16) with "Too many Cluster redirections": retry that too, bounded.
 */
const IN_TRANSIT = /^TRYAGAIN |^Too many Cluster redirections\./;
async function withRetry(call, attempts = 200, pauseMs = 50) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!IN_TRANSIT.test(e.message) || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

/** Recipe: a replica may lack a session its primary has (replication lag, a slot being moved). */
async function readReplicaFirst(cluster, name, ...args) {
  try {
    return await sg(cluster, name, ...args);
  } catch (e) {
    if (!(e instanceof ReplyError) || e.message !== E.no_session) throw e;
    return cluster.sendCommand(new TokenCommand(name, args, { replyEncoding: null }));
  }
}

/** The cluster client once it has loaded the slot table. */
function connected(cluster) {
  return new Promise((resolve, reject) => {
    cluster.once("ready", () => resolve(cluster));
    cluster.once("error", reject);
  });
}

async function standalone() {
  const r = new Redis({
    host: HOST,
    port: Number(process.env.SG_PRIMARY),
    maxRetriesPerRequest: 1,
  });
  try {
    await lifecycle({
      cmd: (...a) => r.callBuffer(...a),
      start: (...a) => r.callBuffer("SESSIONGATE.START", ...a),
      renew: (...a) => r.callBuffer("SESSIONGATE.RENEW", ...a),
      resp: 2,
      Error: ReplyError,
    });
    // The recipe works on a plain connection too.
    const t = String(await r.call("SESSIONGATE.START", KEY, "60"));
    ok(await sg(r, "SESSIONGATE.PSET", KEY, t, "user", "alice"));
    sameBytes(await sg(r, "SESSIONGATE.PGET", KEY, t, "user"), "alice");
    say("lifecycle and errors over RESP2: ok");
    await owners(
      {
        cmd: (...a) => r.callBuffer(...a),
        renew: (...a) => r.callBuffer("SESSIONGATE.RENEW", ...a),
        Error: ReplyError,
      },
      "alice@example.com",
    );
    say("owners: STARTFOR, SESSIONS, REVOKE (all, EXCEPT, ids), owned RENEW, errors: ok");
  } finally {
    r.disconnect();
  }
}

async function replica() {
  const p = new Redis({
    host: HOST,
    port: Number(process.env.SG_PRIMARY),
    maxRetriesPerRequest: 1,
  });
  const r = new Redis({
    host: HOST,
    port: Number(process.env.SG_REPLICA),
    maxRetriesPerRequest: 1,
  });
  try {
    await replicaReads({
      primary: (...a) => p.callBuffer(...a),
      replica: (...a) => r.callBuffer(...a),
      primaryWait: () => p.call("WAIT", "1", "5000"),
      Error: ReplyError,
    });
    say("replica reads PGET, TTL, PGETALL; every write refused with ReplyError READONLY: ok");
    await ownersOnReplica({
      primary: (...a) => p.callBuffer(...a),
      replica: (...a) => r.callBuffer(...a),
      primaryWait: () => p.call("WAIT", "1", "5000"),
      Error: ReplyError,
    });
    say("the replica lists an owner's sessions as the primary does; STARTFOR, REVOKE refused: ok");
  } finally {
    p.disconnect();
    r.disconnect();
  }
}

async function cluster() {
  const primaries = process.env.SG_CLUSTER_PRIMARIES.split(",").map(Number);
  const cluster = new Redis.Cluster(
    primaries.map((port) => ({ host: HOST, port })),
    { scaleReads: "slave" }, // read-only commands to replicas: READONLY is sent for us
  );
  try {
    await connected(cluster);
    const masters = cluster.nodes("master");
    assert.equal(masters.length, 3);

    // START declares no key: send it through a primary of the client's own node list.
    const start = (...a) => masters[0].callBuffer("SESSIONGATE.START", ...a);
    let before = await harness("counts");
    await lifecycle({
      cmd: (name, ...a) => sg(cluster, name, ...a),
      start,
      renew: (...a) => sg(cluster, "SESSIONGATE.RENEW", ...a),
      resp: 2,
      Error: ReplyError,
    });
    // A pipeline of one session's commands (a read and the idle timeout slid forward).
    const t = String(await start(KEY, "300"));
    ok(await sg(cluster, "SESSIONGATE.PSET", KEY, t, "user", "alice"));
    const pipe = cluster.pipeline();
    pipe.sendCommand(
      new TokenCommand("SESSIONGATE.PGET", [KEY, t, "user"], { replyEncoding: null }),
    );
    pipe.sendCommand(new TokenCommand("SESSIONGATE.EXPIRE", [KEY, t, "600"]));
    const [[e1, user], [e2, expired]] = await pipe.exec();
    assert.deepEqual([e1, e2, String(user), String(expired)], [null, null, "alice", "OK"]);
    // The owner commands name the owner as argv[2]: the same recipe routes them.
    await owners(
      {
        cmd: (name, ...a) => sg(cluster, name, ...a),
        renew: (...a) => sg(cluster, "SESSIONGATE.RENEW", ...a),
        Error: ReplyError,
      },
      "{user}:42",
    );
    let after = await harness("counts");
    assert.deepEqual([after.MOVED - before.MOVED, after.ASK - before.ASK], [0, 0]);
    say(
      "lifecycle and errors, START on cluster.nodes('master'), token commands, RENEW, a " +
        "pipeline and the owner commands routed by the TokenCommand recipe: ok, 0 MOVED, 0 ASK",
    );

    const c = {
      cluster,
      sg,
      readReplicaFirst,
      withRetry,
      startOn: (i, ttl) => masters[i % 3].call("SESSIONGATE.START", KEY, ttl),
      primaryRead: (t, name) =>
        cluster.sendCommand(
          new TokenCommand("SESSIONGATE.PGET", [KEY, t, name], { replyEncoding: null }),
        ),
      inTransit: (e) => IN_TRANSIT.test(e.message),
      inTransitNote: "gave up with 'Too many Cluster redirections' after ioredis' own retries",
      connectStale: () =>
        connected(new Redis.Cluster(primaries.map((port) => ({ host: HOST, port })))),
      close: (client) => client.disconnect(),
      Error: ReplyError,
    };
    const { sessions, slot, inSlot } = await sessionsUntilTwoShareASlot(c);

    // Without the recipe, ioredis sends a module command to a random primary: it works, at the
    // price of a MOVED (and a slot-table refresh) two times in three. RENEW the same way.
    // Not the resharded slot's two: renewing one would move it out of that slot.
    const sample = [...sessions.keys()].filter((t) => calculateSlot(t) !== slot).slice(0, 30);
    before = await harness("counts");
    for (const t of sample)
      sameBytes(await cluster.callBuffer("SESSIONGATE.PGET", KEY, t, "user"), sessions.get(t));
    const mid = await harness("counts");
    const renewed = [];
    for (const t of sample.slice(0, 10)) {
      const t2 = String(await cluster.call("SESSIONGATE.RENEW", KEY, t));
      sessions.set(t2, sessions.get(t));
      sessions.delete(t);
      renewed.push(t2);
    }
    after = await harness("counts");
    say(
      `without the recipe: ${mid.MOVED - before.MOVED} MOVED for ${sample.length} PGET, ` +
        `${after.MOVED - mid.MOVED} MOVED for 10 RENEW (each one answered)`,
    );
    assert.ok(mid.MOVED - before.MOVED > 0, "MOVED is not counted: the zero above proves nothing");
    for (const t of renewed)
      sameBytes(await sg(cluster, "SESSIONGATE.PGET", KEY, t, "user"), sessions.get(t));

    // A replica read that must see a write waits for it on the primary first.
    for (const m of masters) assert.equal(Number(await m.call("WAIT", "1", "5000")), 1);
    const reads = await readThroughReplicas(c, sessions);
    assert.deepEqual([reads.replicas, reads.primaries], [reads.reads, 0]);
    say(`${sessions.size} sessions; ${reads.reads} reads served by replicas (scaleReads): ok`);

    await reshard(c, sessions, slot, inSlot);
    await ownersReshard(c);
  } finally {
    cluster.disconnect();
  }
}

run(() => ({ standalone, replica, cluster })[process.env.SG_TOPOLOGY]());
