// What the Node client tests share: the contract, the channel to the harness (run.py), and the
// session lifecycle that ioredis.js and node_redis.js drive through their own clients.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const calculateSlot = require("cluster-key-slot");

const CONTRACT = JSON.parse(fs.readFileSync(path.join(__dirname, "contract.json"), "utf8"));
const KEY = CONTRACT.sign_key;
const OTHER = CONTRACT.other_key;
const E = CONTRACT.errors;
const TOKEN = new RegExp(CONTRACT.token_pattern);
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
// Redis 6.x has no map reply for modules: PGETALL is a flat array under RESP3 too.
const MAPS = Number(process.env.SG_SERVER.split(" ")[1].split(".")[0]) >= 7;

// Answers from the harness arrive one JSON line each on stdin, in the order asked.
const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
const early = [];
lines.on("line", (line) => (waiting.length ? waiting.shift()(line) : early.push(line)));
lines.on("close", () => {
  while (waiting.length) waiting.shift()('{"error": "the harness is gone"}');
});

function nextAnswer() {
  const line = early.length ? Promise.resolve(early.shift()) : new Promise((r) => waiting.push(r));
  return line.then((l) => {
    const reply = JSON.parse(l);
    if (reply.error) throw new Error(`harness: ${reply.error}`);
    return reply;
  });
}

/** Asks the harness; resolves to its answer. `finish` is answered only when the slot has moved. */
function harness(request) {
  const answer = nextAnswer();
  process.stdout.write(`@harness ${request}\n`);
  return answer;
}

function say(text) {
  process.stdout.write(`${text}\n`);
}

/** `promise` must reject with `kind` (node-redis: its RESP3 SimpleError is one) and exactly `text`. */
async function expectError(kind, text, promise) {
  let got;
  try {
    got = await promise;
  } catch (e) {
    assert.ok(e instanceof kind, `${e.constructor.name} instead of ${kind.name}: ${e.message}`);
    assert.equal(e.message, text);
    return;
  }
  assert.fail(`expected ${kind.name}(${JSON.stringify(text)}), got ${JSON.stringify(got)}`);
}

/** PGETALL as { name: hex of data }: a Map or object under RESP3, a flat list under RESP2. */
function payloads(reply) {
  const out = {};
  const put = (k, v) => (out[String(k)] = Buffer.from(v).toString("hex"));
  if (Array.isArray(reply)) {
    assert.equal(reply.length % 2, 0);
    for (let i = 0; i < reply.length; i += 2) put(reply[i], reply[i + 1]);
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) put(k, v);
  } else {
    for (const [k, v] of Object.entries(reply)) put(k, v);
  }
  return out;
}

const hex = (b) => Buffer.from(b).toString("hex");
const ok = (reply) => assert.equal(String(reply), "OK");
const sameBytes = (got, want) => assert.equal(hex(got), hex(want));
const between = (n, low, high) =>
  assert.ok(Number(n) > low && Number(n) <= high, `${n} not in (${low}, ${high}]`);

/**
 * Every command and the errors an application meets. `c.cmd(...args)` runs a token command,
 * `c.start(...args)` and `c.renew(...args)` send those keyless commands where they must go,
 * `c.resp` is the protocol of `c.cmd`, `c.Error` the client's error class for error replies.
 * Every argument is a string or a Buffer.
 */
async function lifecycle(c) {
  const { cmd, start, renew, Error: ReplyErr } = c;
  const t = String(await start(KEY, "300"));
  assert.match(t, TOKEN);
  ok(await cmd("SESSIONGATE.PSET", KEY, t, "user", "alice"));
  ok(await cmd("SESSIONGATE.PSET", KEY, t, "bin", BINARY));
  sameBytes(await cmd("SESSIONGATE.PGET", KEY, t, "user"), "alice");
  sameBytes(await cmd("SESSIONGATE.PGET", KEY, t, "bin"), BINARY);
  const everything = await cmd("SESSIONGATE.PGETALL", KEY, t);
  assert.equal(
    Array.isArray(everything),
    c.resp === 2 || !MAPS,
    `RESP${c.resp} PGETALL: ${everything}`,
  );
  assert.deepEqual(payloads(everything), { user: hex("alice"), bin: hex(BINARY) });
  between(await cmd("SESSIONGATE.TTL", KEY, t), 290, 300);
  ok(await cmd("SESSIONGATE.EXPIRE", KEY, t, "1000"));
  between(await cmd("SESSIONGATE.TTL", KEY, t), 990, 1000);

  // RENEW: a new token for the same session; the old one is gone at once.
  const t2 = String(await renew(KEY, t));
  assert.match(t2, TOKEN);
  assert.notEqual(t2, t);
  await expectError(ReplyErr, E.no_session, cmd("SESSIONGATE.PGET", KEY, t, "user"));
  sameBytes(await cmd("SESSIONGATE.PGET", KEY, t2, "user"), "alice");
  between(await cmd("SESSIONGATE.TTL", KEY, t2), 990, 1000);
  // ... and onto a new sign key (key rotation), then back.
  const t3 = String(await renew(KEY, t2, OTHER));
  sameBytes(await cmd("SESSIONGATE.PGET", OTHER, t3, "bin"), BINARY);
  await expectError(ReplyErr, E.bad_signature, cmd("SESSIONGATE.PGET", KEY, t3, "user"));
  const t4 = String(await renew(OTHER, t3, KEY));

  ok(await cmd("SESSIONGATE.PDEL", KEY, t4, "bin"));
  await expectError(ReplyErr, E.no_payload, cmd("SESSIONGATE.PGET", KEY, t4, "bin"));
  assert.deepEqual(payloads(await cmd("SESSIONGATE.PGETALL", KEY, t4)), { user: hex("alice") });

  // The absolute cap: neither EXPIRE nor RENEW takes the session past START's max_lifetime.
  let capped = String(await start(KEY, "300", "60"));
  between(await cmd("SESSIONGATE.TTL", KEY, capped), 50, 60);
  ok(await cmd("SESSIONGATE.EXPIRE", KEY, capped, "3600"));
  between(await cmd("SESSIONGATE.TTL", KEY, capped), 50, 60);
  capped = String(await renew(KEY, capped));
  between(await cmd("SESSIONGATE.TTL", KEY, capped), 50, 60);

  // Errors reach the application as the client's error class, with the exact text.
  await expectError(ReplyErr, E.bad_signature, cmd("SESSIONGATE.PGET", OTHER, t4, "user"));
  await expectError(ReplyErr, E.token_format, cmd("SESSIONGATE.PGET", KEY, "nope", "user"));
  await expectError(ReplyErr, E.ttl, cmd("SESSIONGATE.EXPIRE", KEY, t4, "soon"));
  await expectError(ReplyErr, E.empty_payload_name, cmd("SESSIONGATE.PSET", KEY, t4, "", "x"));
  await expectError(ReplyErr, E.max_lifetime, start(KEY, "300", "0"));
  await expectError(ReplyErr, E.empty_new_sign_key, renew(KEY, t4, ""));
  await expectError(ReplyErr, E.arity_pget, cmd("sessiongate.pget", KEY, t4));

  ok(await cmd("SESSIONGATE.END", KEY, t4));
  await expectError(ReplyErr, E.no_session, cmd("SESSIONGATE.PGET", KEY, t4, "user"));
  await expectError(ReplyErr, E.no_session, cmd("SESSIONGATE.END", KEY, t4));
  ok(await cmd("SESSIONGATE.END", KEY, capped));
  const gone = String(await start(KEY, "0")); // a well-formed token for a session that ended at once
  assert.match(gone, TOKEN);
  await expectError(ReplyErr, E.no_session, cmd("SESSIONGATE.TTL", KEY, gone));
}

/**
 * The replica topology: reads on a connection to the replica, every write refused there.
 * `primary(...args)` and `replica(...args)` run a command on either; `primaryWait()` runs WAIT.
 */
async function replicaReads({ primary, replica, primaryWait, Error: ReplyErr }) {
  const t = String(await primary("SESSIONGATE.START", KEY, "300"));
  ok(await primary("SESSIONGATE.PSET", KEY, t, "user", "alice"));
  const ended = String(await primary("SESSIONGATE.START", KEY, "300"));
  ok(await primary("SESSIONGATE.END", KEY, ended));
  assert.equal(Number(await primaryWait()), 1);

  sameBytes(await replica("SESSIONGATE.PGET", KEY, t, "user"), "alice");
  between(await replica("SESSIONGATE.TTL", KEY, t), 290, 300);
  assert.deepEqual(payloads(await replica("SESSIONGATE.PGETALL", KEY, t)), { user: hex("alice") });
  await expectError(ReplyErr, E.no_session, replica("SESSIONGATE.PGET", KEY, ended, "user"));
  await expectError(ReplyErr, E.bad_signature, replica("SESSIONGATE.PGET", OTHER, t, "user"));
  for (const write of [
    ["SESSIONGATE.START", KEY, "300"],
    ["SESSIONGATE.START", KEY, "300", "60"],
    ["SESSIONGATE.PSET", KEY, t, "user", "mallory"],
    ["SESSIONGATE.PDEL", KEY, t, "user"],
    ["SESSIONGATE.EXPIRE", KEY, t, "5"],
    ["SESSIONGATE.RENEW", KEY, t],
    ["SESSIONGATE.END", KEY, t],
  ]) {
    await expectError(ReplyErr, E.readonly, replica(...write));
  }
  sameBytes(await replica("SESSIONGATE.PGET", KEY, t, "user"), "alice");
  sameBytes(await primary("SESSIONGATE.PGET", KEY, t, "user"), "alice");
}

/**
 * Sessions started round the cluster's primaries (`c.startOn(i, ttl)`), each given a "user"
 * payload, until two share a slot: the slot `reshard` moves. Returns token → payload, that slot
 * and its two tokens.
 */
async function sessionsUntilTwoShareASlot(c) {
  const sessions = new Map();
  const bySlot = new Map();
  let slot;
  for (let i = 0; i < 5000 && slot === undefined; i++) {
    const t = String(await c.startOn(i, "600"));
    sessions.set(t, t.slice(3, 19));
    const s = calculateSlot(t);
    bySlot.set(s, [...(bySlot.get(s) || []), t]);
    if (bySlot.get(s).length === 2) slot = s;
  }
  assert.ok(slot !== undefined);
  for (const [t, data] of sessions)
    ok(await c.sg(c.cluster, "SESSIONGATE.PSET", KEY, t, "user", data));
  return { sessions, slot, inSlot: bySlot.get(slot) };
}

/**
 * PGET, TTL and PGETALL of 30 sessions through the replica-first recipe; how many reads there
 * were and how many of them the replicas and the primaries served (the harness counts them).
 */
async function readThroughReplicas(c, sessions) {
  const before = await harness("reads");
  const tokens = [...sessions.keys()].slice(0, 30);
  for (const t of tokens) {
    const read = (name, ...a) => c.readReplicaFirst(c.cluster, name, KEY, t, ...a);
    sameBytes(await read("SESSIONGATE.PGET", "user"), sessions.get(t));
    between(await read("SESSIONGATE.TTL"), 500, 600);
    assert.deepEqual(payloads(await read("SESSIONGATE.PGETALL")), { user: hex(sessions.get(t)) });
  }
  const now = await harness("reads");
  return {
    reads: 3 * tokens.length,
    replicas: now.replicas - before.replicas,
    primaries: now.primaries - before.primaries,
  };
}

/**
 * Moves `slot` (holding the sessions `inSlot`) to another primary while the client keeps
 * working. The harness moves one of the two keys and holds the move: the moved session is
 * served through ASK and the other fails with the client's in-transit error (`c.inTransit`),
 * never "does not exist"; the other slots carry on; the retry recipe (`c.withRetry`) carries the
 * session in transit through the rest of the move; a client whose slot table predates the move
 * (`c.connectStale()`) follows MOVED on RENEW; and every session is still there after.
 * `c.primaryRead(t, name)` reads a payload from the primary; `c.inTransitNote` says how the
 * client answered for the session in transit.
 */
async function reshard(c, sessions, slot, inSlot) {
  const { sg, cluster, primaryRead, withRetry } = c;
  const m = await harness(`migrate ${slot}`);
  const stale = await c.connectStale();
  try {
    say(
      `slot ${slot}: moving from ${m.source} to ${m.target}, ${m.moved} of ${m.total} moved so far`,
    );
    const served = [];
    const inTransit = [];
    for (const t of inSlot) {
      try {
        sameBytes(await primaryRead(t, "user"), sessions.get(t)); // ASK followed
        served.push(t);
      } catch (e) {
        assert.ok(c.inTransit(e), e.message);
        inTransit.push(t);
      }
    }
    assert.deepEqual([served.length, inTransit.length], [m.moved, m.total - m.moved]);
    assert.ok(served.length > 0 && inTransit.length > 0);
    for (const t of served) {
      // The source's replica no longer holds it (or sends ASK: Valkey).
      sameBytes(
        await c.readReplicaFirst(cluster, "SESSIONGATE.PGET", KEY, t, "user"),
        sessions.get(t),
      );
    }
    say(
      `mid-migration: ${served.length} served through ASK, ${inTransit.length} in transit ` +
        `${c.inTransitNote}: ok`,
    );

    let i = 0;
    for (const t of [...sessions.keys()].filter((t) => !inSlot.includes(t)).slice(0, 60)) {
      // The other slots carry on meanwhile.
      ok(await sg(cluster, "SESSIONGATE.EXPIRE", KEY, t, "900"));
      const fresh = String(await c.startOn(i++, "60"));
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
        await withRetry(() => c.readReplicaFirst(cluster, "SESSIONGATE.PGET", KEY, t, "user")),
        sessions.get(t),
      );
    }
    say(
      `resharding: the retry recipe carried a session in transit through the move (${tries} tries, ` +
        `${waited.toFixed(2)} s); every session of the slot served after: ok`,
    );

    // RENEW through the client that missed the move: it follows the MOVED (or, while the old
    // owner's slot cache, up to cluster-cache-ms old, still says the slot migrates, the ASK to
    // the same new owner).
    const before = await harness("counts");
    const renewedHere = [];
    for (const t of inSlot) {
      const t2 = String(await sg(stale, "SESSIONGATE.RENEW", KEY, t));
      sessions.set(t2, sessions.get(t));
      sessions.delete(t);
      renewedHere.push(t2);
    }
    const after = await harness("counts");
    const redirected = after.MOVED - before.MOVED + after.ASK - before.ASK;
    assert.ok(redirected > 0, "the stale client was never redirected");
    say(
      `RENEW through a client that missed the move: ${redirected} MOVED or ASK, then served: ok`,
    );

    // Nothing lost: every session answers, with its payloads, through the client.
    for (const [t, data] of sessions) sameBytes(await primaryRead(t, "user"), data);
    for (const t of inSlot) await expectError(c.Error, E.no_session, primaryRead(t, "user"));
    for (const t of renewedHere) sameBytes(await primaryRead(t, "after"), "1");
    say(`after the move: all ${sessions.size} sessions intact: ok`);
  } finally {
    c.close(stale);
  }
}

// --- Owners (DESIGN §1b) ----------------------------------------------------------------

const OWNED = new RegExp(CONTRACT.owned_token_pattern);
const ownedId = (t) => String(t).split(".")[2];
const tagOf = (t) => String(t).split(".")[1];
const entryIds = (listed) => listed.map((e) => String(e[0]));

/**
 * STARTFOR, SESSIONS and REVOKE for `owner`, RENEW of an owned session, and their errors.
 * `c.cmd(name, ...args)` sends any command routed by its argv[2] (the token, or the owner:
 * the same recipe), `c.renew(...args)` sends RENEW where it must go; `c.noEmptyKey`: the client
 * cannot route by an empty key.
 */
async function owners(c, owner) {
  const { cmd, renew, Error: ReplyErr } = c;
  const ts = [];
  for (let i = 0; i < 3; i++) {
    const t = String(await cmd("SESSIONGATE.STARTFOR", KEY, owner, "600"));
    assert.match(t, OWNED);
    assert.equal(calculateSlot(t), calculateSlot(owner), "an owned token routes to the owner");
    ok(await cmd("SESSIONGATE.PSET", KEY, t, "device", `device-${i}`));
    ts.push(t);
  }
  const listed = await cmd("SESSIONGATE.SESSIONS", KEY, owner, "device", "absent");
  assert.deepEqual(entryIds(listed).sort(), ts.map(ownedId).sort());
  const created = listed.map((e) => Number(e[1]));
  assert.deepEqual(created, [...created].sort((a, b) => b - a), "newest first");
  for (const e of listed) {
    between(e[2], 590, 600);
    assert.match(String(e[3]), /^device-\d$/);
    assert.equal(e[4], null);
  }
  const renewed = String(await renew(KEY, ts[0]));
  assert.match(renewed, OWNED);
  assert.equal(tagOf(renewed), tagOf(ts[0]), "RENEW keeps the owner's slot");
  await expectError(ReplyErr, E.no_session, cmd("SESSIONGATE.TTL", KEY, ts[0]));
  await expectError(ReplyErr, E.owned_new_sign_key, renew(KEY, renewed, OTHER));
  ts[0] = renewed;
  // (node-redis takes an empty firstKey for none, and sends that to any node: `c.noEmptyKey`.)
  if (!c.noEmptyKey)
    await expectError(ReplyErr, E.empty_owner, cmd("SESSIONGATE.STARTFOR", KEY, "", "60"));
  await expectError(
    ReplyErr,
    E.wrong_owner,
    cmd("SESSIONGATE.REVOKE", KEY, `${owner}-other`, "EXCEPT", ts[0]),
  );
  assert.deepEqual(await cmd("SESSIONGATE.SESSIONS", OTHER, owner), []);
  // All other sessions of the owner (a password change), then one by id, then all.
  assert.equal(Number(await cmd("SESSIONGATE.REVOKE", KEY, owner, "EXCEPT", ts[0])), 2);
  assert.deepEqual(entryIds(await cmd("SESSIONGATE.SESSIONS", KEY, owner)), [ownedId(ts[0])]);
  const extra = String(await cmd("SESSIONGATE.STARTFOR", KEY, owner, "600"));
  assert.equal(
    Number(await cmd("SESSIONGATE.REVOKE", KEY, owner, ownedId(extra), "AAAAAAAAAAAAAAAA")),
    1,
  );
  assert.equal(Number(await cmd("SESSIONGATE.REVOKE", KEY, owner)), 1);
  assert.deepEqual(await cmd("SESSIONGATE.SESSIONS", KEY, owner), []);
  await expectError(ReplyErr, E.no_session, cmd("SESSIONGATE.TTL", KEY, ts[0]));
}

/** The replica lists what its primary lists, and refuses STARTFOR and REVOKE. */
async function ownersOnReplica({ primary, replica, primaryWait, Error: ReplyErr }) {
  const owner = "replica-owner";
  for (let i = 0; i < 2; i++) {
    const t = String(await primary("SESSIONGATE.STARTFOR", KEY, owner, "300"));
    ok(await primary("SESSIONGATE.PSET", KEY, t, "device", `d${i}`));
  }
  assert.equal(Number(await primaryWait()), 1);
  const onPrimary = await primary("SESSIONGATE.SESSIONS", KEY, owner, "device");
  const onReplica = await replica("SESSIONGATE.SESSIONS", KEY, owner, "device");
  assert.equal(onReplica.length, 2);
  assert.deepEqual(
    onReplica.map((e) => [String(e[0]), Number(e[1]), String(e[3])]),
    onPrimary.map((e) => [String(e[0]), Number(e[1]), String(e[3])]),
  );
  await expectError(ReplyErr, E.readonly, replica("SESSIONGATE.STARTFOR", KEY, owner, "60"));
  await expectError(ReplyErr, E.readonly, replica("SESSIONGATE.REVOKE", KEY, owner));
  assert.equal(Number(await primary("SESSIONGATE.REVOKE", KEY, owner)), 2);
}

/**
 * An owner's slot moved while SESSIONS and REVOKE run: mid-move they fail with the client's
 * in-transit error (`c.inTransit`: the module's TRYAGAIN, as neither node holds all of the
 * owner's data), never a partial list or a partial revoke; the retry recipe carries them through
 * the move, and after it the owner's sessions are all there.
 */
async function ownersReshard(c) {
  const { sg, cluster, withRetry } = c;
  const owner = "{owners-reshard}:alice";
  const ts = [];
  for (let i = 0; i < 4; i++) ts.push(String(await sg(cluster, "SESSIONGATE.STARTFOR", KEY, owner, "600")));
  const slot = calculateSlot(owner);
  const m = await harness(`migrate ${slot}`);
  say(`owner's slot ${slot}: moving, ${m.moved} of ${m.total} keys moved so far`);
  for (const args of [["SESSIONGATE.SESSIONS", KEY, owner], ["SESSIONGATE.REVOKE", KEY, owner]]) {
    try {
      const got = await sg(cluster, ...args);
      assert.fail(`${args[0]} answered ${got} with the owner's data split`);
    } catch (e) {
      assert.ok(c.inTransit(e), e.message);
    }
  }
  let tries = 0;
  let finished;
  const listed = await withRetry(() => {
    if (++tries === 2) finished = harness("finish");
    return sg(cluster, "SESSIONGATE.SESSIONS", KEY, owner);
  });
  assert.ok(tries >= 2 && (await finished).finished);
  assert.deepEqual(entryIds(listed).sort(), ts.map(ownedId).sort());
  const n = await withRetry(() => sg(cluster, "SESSIONGATE.REVOKE", KEY, owner, "EXCEPT", ts[0]));
  assert.equal(Number(n), 3);
  assert.deepEqual(entryIds(await sg(cluster, "SESSIONGATE.SESSIONS", KEY, owner)), [ownedId(ts[0])]);
  say(
    `owner's slot moved under SESSIONS and REVOKE: in transit until it moved (${tries} tries), ` +
      "then every session listed and revoked: ok",
  );
}

/** Runs `main`, reporting a failure with its stack and a non-zero exit status. */
function run(main) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
}

module.exports = {
  OWNED,
  owners,
  ownersOnReplica,
  ownersReshard,
  BINARY,
  CONTRACT,
  E,
  KEY,
  OTHER,
  TOKEN,
  assert,
  between,
  expectError,
  harness,
  hex,
  lifecycle,
  nextAnswer,
  ok,
  payloads,
  readThroughReplicas,
  replicaReads,
  reshard,
  run,
  sameBytes,
  say,
  sessionsUntilTwoShareASlot,
};
