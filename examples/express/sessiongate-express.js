// Express sessions in Session Gate: copy this file into your project, then
//   app.use(sessionGate({ client, signKey, idleSeconds: 1800, maxLifetime: 28800 }));
// with `client` a connected node-redis client made with `disableOfflineQueue: true` (else a
// request waits for as long as Redis is down) and an "error" listener.
//
// req.session holds the session's values (one payload each, as JSON); change them, then
// `await req.session.save()`. `await req.session.regenerate()` (login) RENEWs the token, values
// kept; `await req.session.destroy()` (logout) ENDs it; `await req.session.load()` reads it
// again. The token START issues is the cookie; each request reads the session and slides its
// idle timeout in one round trip, and the cookie's Max-Age is the server's TTL (under the cap,
// EXPIRE answers OK but sets less). A cookie that names no live session of this application is
// an empty session, never an error; Redis failures go to next(err) (a 500). docs/frameworks.md.
"use strict";
const { ErrorReply } = require("redis");

const TOKEN = /^v1\.[0-9A-Za-z]{16}\.[0-9a-f]{64}$/;
// "No session of ours": the codes (load argument `error-codes yes`) or the C module's sentences.
const GONE_CODES = new Set(["NOSESSION", "BADSIG", "WRONGAPP", "BADTOKEN"]);
const GONE_TEXTS = new Set([
  "<token> must have at least one character",
  "<token> format is invalid",
  "the signature contained in <token> is invalid",
  "the session id contained in <token> does not exist",
  "the signature contained in <token> seems to be valid, but is different from the stored signature in the session",
]);
const gone = (e) =>
  e instanceof ErrorReply && (GONE_CODES.has(e.message.split(" ", 1)[0]) || GONE_TEXTS.has(e.message));

function sessionGate({ client, signKey, idleSeconds = 1800, maxLifetime, cookie = "__Host-session" }) {
  const sg = (name, ...args) => client.sendCommand([`SESSIONGATE.${name}`, signKey, ...args.map(String)]);
  const ignoreGone = (e) => {
    if (!gone(e)) throw e;
  };

  class Session {
    constructor(token) {
      // Not enumerable: Object.keys(req.session) are the values.
      Object.defineProperty(this, "_sg", { value: { token, stored: {}, ttl: 0, cookie: false } });
    }

    get id() {
      return this._sg.token;
    }

    async load() {
      const s = this._sg;
      for (const k of Object.keys(this)) delete this[k];
      s.stored = {};
      if (!s.token) return this;
      // Sent together: one round trip.
      const [all, , ttl] = await Promise.allSettled([
        sg("PGETALL", s.token),
        sg("EXPIRE", s.token, idleSeconds),
        sg("TTL", s.token),
      ]);
      for (const r of [all, ttl]) if (r.status === "rejected") ignoreGone(r.reason);
      if (all.status === "rejected" || ttl.status === "rejected") {
        s.token = null;
        return this;
      }
      const pairs = Array.isArray(all.value) ? all.value : Object.entries(all.value).flat();
      for (let i = 0; i < pairs.length; i += 2) {
        s.stored[pairs[i]] = String(pairs[i + 1]);
        this[pairs[i]] = JSON.parse(pairs[i + 1]);
      }
      s.ttl = ttl.value;
      s.cookie = true;
      return this;
    }

    async save() {
      const s = this._sg;
      const values = Object.fromEntries(Object.entries(this).map(([k, v]) => [k, JSON.stringify(v)]));
      if (!s.token) {
        if (Object.keys(values).length === 0) return this;
        s.token = await sg("START", idleSeconds, ...(maxLifetime ? [maxLifetime] : []));
        s.ttl = Math.min(idleSeconds, maxLifetime || idleSeconds);
        s.cookie = true;
      }
      const writes = [];
      for (const [k, v] of Object.entries(values)) if (s.stored[k] !== v) writes.push(sg("PSET", s.token, k, v));
      for (const k of Object.keys(s.stored)) if (!(k in values)) writes.push(sg("PDEL", s.token, k));
      await Promise.all(writes);
      s.stored = values;
      return this;
    }

    async regenerate() {
      const s = this._sg;
      if (s.token) {
        try {
          s.token = await sg("RENEW", s.token);
        } catch (e) {
          ignoreGone(e);
          Object.assign(s, { token: null, stored: {} }); // gone meanwhile: save() starts one
        }
      }
      s.cookie = Boolean(s.token);
      return this;
    }

    async destroy() {
      const s = this._sg;
      if (s.token) await sg("END", s.token).catch(ignoreGone); // END of a gone session: done too
      for (const k of Object.keys(this)) delete this[k];
      Object.assign(s, { token: null, stored: {}, cookie: false });
      return this;
    }
  }

  function setCookie(req, res) {
    const s = req.session._sg;
    const options = { path: "/", httpOnly: true, secure: true, sameSite: "lax" };
    if (s.cookie) res.cookie(cookie, s.token, { ...options, maxAge: s.ttl * 1000 });
    else if (req.sessionCookie !== undefined) res.clearCookie(cookie, options);
    res.vary("Cookie");
  }

  return async function sessionGateMiddleware(req, res, next) {
    try {
      const sent = readCookie(req.headers.cookie, cookie);
      req.sessionCookie = sent;
      req.session = new Session(sent !== undefined && TOKEN.test(sent) ? sent : null);
      await req.session.load();
      const writeHead = res.writeHead;
      res.writeHead = function (...args) {
        setCookie(req, res); // once the handler is done with the session, before the headers go
        return writeHead.apply(this, args);
      };
      next();
    } catch (e) {
      next(e);
    }
  };
}

function readCookie(header, name) {
  for (const part of (header || "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

module.exports = { sessionGate, gone };
