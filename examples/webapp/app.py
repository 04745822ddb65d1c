"""A small Flask application that keeps its sessions in Session Gate, the way
docs/session-security.md says:

- every visitor gets a session (here: a shopping cart) before logging in;
- login STARTs a session owned by the user (STARTFOR: a new id, the fixation defense), copies
  what the visitor's session held into it and ENDs that one: the pre-login token is dead;
- "your sessions" lists the user's sessions (SESSIONS: device and login time of each), logs out
  one of them or all the others (REVOKE); a password change ends every other session and
  renews the current one;
- each request reads the session and slides its idle timeout with EXPIRE in one round trip;
- START's max_lifetime caps the session absolutely, however active it stays;
- logout ENDs it;
- sign-key rotation logs nobody out: a token the new key rejects is tried with the old key; a
  visitor's session is RENEWed into the new key, a user's (owned) session stays on the key that
  started it until it ends, and the user's sessions are listed and revoked under both keys;
- the cookie is HttpOnly, Secure, SameSite=Lax, `__Host-` prefixed; a token never appears in a URL
  or a log line.

Configuration (environment):
  SESSIONGATE_SIGN_KEY       the sign key (required; long and random)
  SESSIONGATE_OLD_SIGN_KEY   the previous sign key, while rotating (optional)
  REDIS_URL                  default redis://127.0.0.1:6379/0
  SESSION_IDLE_SECONDS       idle timeout, default 1800
  SESSION_MAX_SECONDS        absolute cap, default 28800 (8 hours)
  HOST, PORT                 where `python app.py` serves, default 127.0.0.1:8000

Run: `pip install -r requirements.txt`, then `SESSIONGATE_SIGN_KEY=... python app.py` (Flask's
development server; behind a WSGI server such as gunicorn in production: `app:app`).
"""

import os

import redis
from flask import Flask, jsonify, request
from werkzeug.security import check_password_hash, generate_password_hash

SIGN_KEY = os.environ["SESSIONGATE_SIGN_KEY"]
OLD_SIGN_KEY = os.environ.get("SESSIONGATE_OLD_SIGN_KEY")
IDLE = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))
MAX_LIFETIME = int(os.environ.get("SESSION_MAX_SECONDS", "28800"))
COOKIE = "__Host-session"

# The replies that mean "this cookie holds no live session of ours": a visitor to treat as
# logged out. Any other error (Redis down, out of memory, ...) is a real failure.
NOT_A_SESSION = {
    "<token> must have at least one character",
    "<token> format is invalid",
    "the signature contained in <token> is invalid",
    "the session id contained in <token> does not exist",
    (
        "the signature contained in <token> seems to be valid, but is different from the "
        "stored signature in the session"
    ),
}
BAD_SIGNATURE = "the signature contained in <token> is invalid"
# Every sign key sessions may still have: the owner commands run under each.
KEYS = [SIGN_KEY] + ([OLD_SIGN_KEY] if OLD_SIGN_KEY else [])

# A stand-in user store.
USERS = {"alice": generate_password_hash("wonderland"), "bob": generate_password_hash("builder")}

store = redis.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), protocol=3, decode_responses=True
)
app = Flask(__name__)


def sg(*args):
    return store.execute_command(*args)


def read_session(token, key):
    """The session's payloads, its idle timeout slid forward in the same round trip; or None
    and the error reply when the token names no live session under `key`."""
    pipe = store.pipeline(transaction=False)
    pipe.execute_command("SESSIONGATE.PGETALL", key, token)
    pipe.execute_command("SESSIONGATE.EXPIRE", key, token, IDLE)
    payloads, _ = pipe.execute(raise_on_error=False)
    if isinstance(payloads, redis.ResponseError):
        if str(payloads) in NOT_A_SESSION:
            return None, str(payloads)
        raise payloads
    if isinstance(payloads, list):  # Redis 6.x answers a flat list even under RESP3
        payloads = dict(zip(payloads[::2], payloads[1::2]))
    return payloads, None


def owned(token):
    """A user's session (STARTFOR) has a v2 token; a visitor's (START) a v1 token."""
    return token.startswith("v2.")


class Session:
    """The request's session: its token (None: none yet), the sign key it verifies with, and
    its payloads."""

    def __init__(self):
        self.token, self.key, self.data, self.new_token = None, SIGN_KEY, {}, False
        token = request.cookies.get(COOKIE)
        if not token or not token.isascii():  # tokens are ASCII; anything else is not ours
            return
        data, error = read_session(token, SIGN_KEY)
        if error == BAD_SIGNATURE and OLD_SIGN_KEY:
            if owned(token):
                # Key rotation: a user's session stays on the key that started it (its
                # owner's index is that key's); it ends before the old key is retired.
                data, error = read_session(token, OLD_SIGN_KEY)
                self.key = OLD_SIGN_KEY
            else:
                # A visitor's session moves onto the new key; the old token dies.
                token = self._renew(token, OLD_SIGN_KEY, SIGN_KEY)
                if token is not None:
                    data, error = read_session(token, SIGN_KEY)
        if data is not None:
            self.token, self.data = token, data

    def _renew(self, token, key, new_key=None):
        """RENEW; None when the token names no live session."""
        try:
            renewed = sg("SESSIONGATE.RENEW", key, token, *([new_key] if new_key else []))
        except redis.ResponseError as e:
            if str(e) in NOT_A_SESSION:
                return None
            raise
        self.new_token = True
        return renewed

    def ensure(self):
        """A session for this visitor, started if there is none yet."""
        if self.token is None:
            self.token = sg("SESSIONGATE.START", SIGN_KEY, IDLE, MAX_LIFETIME)
            self.new_token = True
        return self.token

    def login(self, user):
        """Fixation defense: the user gets a new session (STARTFOR: a new id, owned by the
        user), with what the visitor's session held; the pre-login token stops working."""
        device = request.headers.get("User-Agent", "")[:200] or "unknown device"
        token = sg("SESSIONGATE.STARTFOR", SIGN_KEY, user, IDLE, MAX_LIFETIME)
        kept = {k: v for k, v in self.data.items() if k not in ("user", "device")}
        for name, data in {**kept, "user": user, "device": device}.items():
            sg("SESSIONGATE.PSET", SIGN_KEY, token, name, data)
        self.logout()
        self.token, self.key, self.new_token = token, SIGN_KEY, True
        self.data = {**kept, "user": user, "device": device}

    def logout(self):
        if self.token is not None:
            try:
                sg("SESSIONGATE.END", self.key, self.token)
            except redis.ResponseError as e:
                if str(e) not in NOT_A_SESSION:
                    raise
        self.token = None

    def id(self):
        return self.token.split(".")[2]

    def sessions(self):
        """The user's sessions, under every key, newest first."""
        user, found = self.data["user"], []
        for key in KEYS:
            for sid, created, ttl, device in sg("SESSIONGATE.SESSIONS", key, user, "device"):
                found.append(
                    {
                        "id": sid,
                        "created": created,
                        "ttl": ttl,
                        "device": device,
                        "current": sid == self.id(),
                    }
                )
        return sorted(found, key=lambda s: s["created"], reverse=True)

    def end_others(self):
        """Every other session of the user (under every key); how many ended."""
        user, ended = self.data["user"], 0
        for key in KEYS:
            mine = ["EXCEPT", self.token] if key == self.key else []
            ended += sg("SESSIONGATE.REVOKE", key, user, *mine)
        return ended

    def respond(self, body, status=200):
        resp = jsonify(body)
        resp.status_code = status
        resp.headers["Cache-Control"] = "no-store"
        if self.token is None and request.cookies.get(COOKIE) is not None:
            resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Lax")
        elif self.new_token:
            resp.set_cookie(
                COOKIE,
                self.token,
                max_age=MAX_LIFETIME,
                path="/",
                secure=True,
                httponly=True,
                samesite="Lax",
            )
        return resp


@app.get("/")
def home():
    s = Session()
    s.ensure()
    return s.respond({"user": s.data.get("user"), "cart": cart(s)})


@app.post("/cart")
def add_to_cart():
    s = Session()
    token = s.ensure()
    items = cart(s) + [request.form.get("item", "")[:100]]
    sg("SESSIONGATE.PSET", SIGN_KEY, token, "cart", "\n".join(items))
    return s.respond({"cart": items})


@app.post("/login")
def login():
    s = Session()
    user = request.form.get("user", "")
    known = USERS.get(user)
    if known is None or not check_password_hash(known, request.form.get("password", "")):
        return s.respond({"error": "wrong user or password"}, 401)
    s.login(user)
    return s.respond({"user": user, "cart": cart(s)})


def logged_in(handler):
    """`handler(session)` for a logged-in user; 401 for anyone else."""

    def wrapped():
        s = Session()
        if "user" not in s.data:
            return s.respond({"error": "not logged in"}, 401)
        return handler(s)

    wrapped.__name__ = handler.__name__
    return wrapped


@app.get("/sessions")
@logged_in
def your_sessions(s):
    """The "your sessions" page: each device and when it logged in."""
    return s.respond({"sessions": s.sessions()})


@app.post("/sessions/logout")
@logged_in
def log_out_one(s):
    """"Log out this one": one of the user's sessions, by its id (the current one included)."""
    sid = request.form.get("id", "")
    if not (len(sid) == 16 and sid.isascii() and sid.isalnum()):
        return s.respond({"error": "no such session"}, 400)
    ended = sum(sg("SESSIONGATE.REVOKE", key, s.data["user"], sid) for key in KEYS)
    if sid == s.id():
        s.token = None
    return s.respond({"ended": ended})


@app.post("/sessions/logout-others")
@logged_in
def log_out_others(s):
    """"Log out all other devices"."""
    return s.respond({"ended": s.end_others()})


@app.post("/password")
@logged_in
def change_password(s):
    """A password change ends every other session of the user, and gives the current one a new
    id (a change of privilege)."""
    user = s.data["user"]
    if not check_password_hash(USERS[user], request.form.get("password", "")):
        return s.respond({"error": "wrong password"}, 401)
    new = request.form.get("new", "")
    if len(new) < 8:
        return s.respond({"error": "the new password is too short"}, 400)
    USERS[user] = generate_password_hash(new)
    ended = s.end_others()
    s.token, s.new_token = sg("SESSIONGATE.RENEW", s.key, s.token), True
    return s.respond({"ended": ended})


@app.get("/me")
def me():
    s = Session()
    if "user" not in s.data:
        return s.respond({"error": "not logged in"}, 401)
    return s.respond({"user": s.data["user"], "cart": cart(s)})


@app.post("/logout")
def logout():
    s = Session()
    s.logout()
    return s.respond({"user": None})


def cart(s):
    return s.data["cart"].split("\n") if s.data.get("cart") else []


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
