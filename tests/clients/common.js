// What the Node client tests share: the contract, the channel to the harness (run.py), and the
// session lifecycle that ioredis.js and node_redis.js drive through their own clients.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");

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
  replicaReads,
  run,
  sameBytes,
  say,
};
