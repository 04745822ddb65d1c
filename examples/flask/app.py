"""The shop of examples/webapp on Flask's own `session`, kept in Session Gate by
sessiongate_flask.py: a cart before login, login renews the session (cart kept), sliding idle
timeout, absolute cap, logout, sign-key rotation, `__Host-` cookie.

Environment: SESSIONGATE_SIGN_KEY (required), SESSIONGATE_OLD_SIGN_KEY (while rotating),
REDIS_URL (default redis://127.0.0.1:6379/0), SESSION_IDLE_SECONDS (1800), SESSION_MAX_SECONDS
(28800), HOST and PORT (127.0.0.1:8000).
"""

import os

import redis
from flask import Flask, jsonify, request, session
from sessiongate_flask import SessionGateInterface
from werkzeug.security import check_password_hash, generate_password_hash

USERS = {"alice": generate_password_hash("wonderland")}  # a stand-in user store

app = Flask(__name__)
app.config.update(
    SESSION_COOKIE_NAME="__Host-session",
    SESSION_COOKIE_SECURE=True,
    SESSION_COOKIE_SAMESITE="Lax",
)
app.session_interface = SessionGateInterface(
    redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")),
    os.environ["SESSIONGATE_SIGN_KEY"],
    idle=int(os.environ.get("SESSION_IDLE_SECONDS", "1800")),
    max_lifetime=int(os.environ.get("SESSION_MAX_SECONDS", "28800")),
    old_sign_key=os.environ.get("SESSIONGATE_OLD_SIGN_KEY"),
)


@app.after_request
def no_store(resp):
    resp.headers["Cache-Control"] = "no-store"
    return resp


@app.get("/")
def home():
    return {"user": session.get("user"), "cart": session.get("cart", [])}


@app.post("/cart")
def add_to_cart():
    session["cart"] = session.get("cart", []) + [request.form.get("item", "")[:100]]
    return {"cart": session["cart"]}


@app.post("/login")
def login():
    user = request.form.get("user", "")
    known = USERS.get(user)
    if known is None or not check_password_hash(known, request.form.get("password", "")):
        return jsonify(error="wrong user or password"), 401
    session.regenerate()  # RENEW: new token, cart kept, the pre-login token dead
    session["user"] = user
    return {"user": user, "cart": session.get("cart", [])}


@app.get("/me")
def me():
    if "user" not in session:
        return jsonify(error="not logged in"), 401
    return {"user": session["user"], "cart": session.get("cart", [])}


@app.post("/logout")
def logout():
    session.end()
    return {"user": None}


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
