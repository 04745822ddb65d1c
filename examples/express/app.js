// A tiny shop on Express with its sessions in Session Gate (sessiongate-express.js): a cart
// before login, login renews the session (cart kept), sliding idle timeout, absolute cap,
// logout. Environment: SESSIONGATE_SIGN_KEY (required), REDIS_URL (redis://127.0.0.1:6379),
// SESSION_IDLE_SECONDS (1800), SESSION_MAX_SECONDS (28800), HOST and PORT (127.0.0.1:8000).
"use strict";
const crypto = require("node:crypto");
const express = require("express");
const { createClient } = require("redis");
const { sessionGate } = require("./sessiongate-express");

// A stand-in user store: scrypt hashes.
const salt = crypto.randomBytes(16);
const hash = (password) => crypto.scryptSync(password, salt, 32);
const USERS = { alice: hash("wonderland") };

async function main() {
  const client = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379", disableOfflineQueue: true });
  client.on("error", (e) => console.error(`redis: ${e.message}`));
  await client.connect();

  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(
    sessionGate({
      client,
      signKey: process.env.SESSIONGATE_SIGN_KEY,
      idleSeconds: Number(process.env.SESSION_IDLE_SECONDS || 1800),
      maxLifetime: Number(process.env.SESSION_MAX_SECONDS || 28800),
    }),
  );
  app.use((req, res, next) => {
    res.set("Cache-Control", "no-store");
    next();
  });

  app.get("/", (req, res) => res.json({ user: req.session.user ?? null, cart: req.session.cart ?? [] }));

  app.post("/cart", async (req, res) => {
    req.session.cart = [...(req.session.cart ?? []), String(req.body.item ?? "").slice(0, 100)];
    await req.session.save();
    res.json({ cart: req.session.cart });
  });

  app.post("/login", async (req, res) => {
    const known = USERS[req.body.user];
    const given = hash(String(req.body.password ?? ""));
    if (!known || !crypto.timingSafeEqual(known, given)) return res.status(401).json({ error: "wrong user or password" });
    await req.session.regenerate(); // RENEW: new token, cart kept, the pre-login token dead
    req.session.user = req.body.user;
    await req.session.save();
    res.json({ user: req.session.user, cart: req.session.cart ?? [] });
  });

  app.get("/me", (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: "not logged in" });
    res.json({ user: req.session.user, cart: req.session.cart ?? [] });
  });

  app.post("/logout", async (req, res) => {
    await req.session.destroy();
    res.json({ user: null });
  });

  const port = Number(process.env.PORT || 8000);
  app.listen(port, process.env.HOST || "127.0.0.1", () => console.log(`listening on ${port}`));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
