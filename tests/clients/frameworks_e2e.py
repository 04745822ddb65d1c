"""The framework adapters end to end: examples/django (SESSION_ENGINE), examples/flask
(SessionInterface) and examples/express (middleware), each its own server process (Django's
runserver, Flask's development server, node) over real HTTP on a loopback port, against real
redis-servers with the module: one as the C contract (error codes off), one loaded with
`error-codes yes`. This test is the browser, with a cookie jar per visitor; each app gets the
same visits:

  anonymous session, data round trip, jars kept apart; login renews the id and keeps the data;
  each request slides the idle timeout (cookie Max-Age = the server's TTL); tampered and other
  applications' cookies are anonymous (401, never a 500); an idle session expires into an
  anonymous one; logout ends the session; a capped app's session ends at its cap however
  active (once per app); Redis down is a 5xx, never "logged out".

`--frameworks django,flask` runs some. Every process is stopped on every exit path; every wait
is bounded.
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import redis
from servers import ROOT, Server, die_with_parent, wait_until

EXAMPLES = ROOT / "examples"
COOKIE = "__Host-session"
KEY, OTHER_KEY = "framework-test-key", "another-application"
TOKEN = re.compile(r"\Av1\.[0-9A-Za-z]{16}\.[0-9a-f]{64}\Z")
NOT_LOGGED_IN = {"error": "not logged in"}
GONE = {
    False: "the session id contained in <token> does not exist",
    True: "NOSESSION the session id contained in <token> does not exist",
}


def django_setup(env):
    """The users' database: migrated, with alice."""
    manage = [sys.executable, "manage.py"]
    for args in (
        ["migrate", "-v0"],
        [
            "shell",
            "-v0",
            "-c",
            "from django.contrib.auth.models import User; "
            "User.objects.create_user('alice', password='wonderland')",
        ],
    ):
        subprocess.run(
            manage + args, cwd=EXAMPLES / "django", env=env, check=True, timeout=120,
            preexec_fn=die_with_parent,
        )


FRAMEWORKS = {
    "django": (
        "django",
        lambda port: [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
    ),
    "flask": ("flask", lambda port: [sys.executable, "app.py"]),
    "express": ("express", lambda port: ["node", "app.js"]),
}


class App:
    """One app process on a free loopback port."""

    def __init__(self, framework, redis_port, **env):
        folder, command = FRAMEWORKS[framework]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.name = framework
        self.log = Path(tempfile.mkstemp(prefix=f"sessiongate-{framework}-", suffix=".log")[1])
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SESSIONGATE_SIGN_KEY": KEY,
            "PORT": str(self.port),
            **env,
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                command(self.port),
                cwd=EXAMPLES / folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        try:
            wait_until(f"the {framework} app to answer", self.answers, timeout=60)
        except BaseException:
            self.stop()
            raise

    def answers(self):
        assert self.proc.poll() is None, f"the app exited:\n{self.log.read_text()}"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def request(self, method, path, jar=None, form=None, allow_5xx=False):
        """(status, JSON body); the jar (a dict) keeps the cookie as a browser would."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path)
            body = None
            if form is not None:
                body = urllib.parse.urlencode(form).encode()
                conn.putheader("Content-Type", "application/x-www-form-urlencoded")
                conn.putheader("Content-Length", str(len(body)))
            if jar is not None and jar.get("token") is not None:
                value = jar["token"]
                value = value if isinstance(value, bytes) else value.encode()
                conn.putheader("Cookie", f"{COOKIE}=".encode() + value)
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read()
            what = f"{self.name} {method} {path}"
            if resp.status >= 500:
                assert allow_5xx, f"{what}: {resp.status}; the app's log:\n{self.log.read_text()}"
                return resp.status, raw
            if resp.status == 400 and jar and isinstance(jar.get("token"), bytes):
                return resp.status, "refused by the HTTP server"  # e.g. Node's parser: a NUL
            assert resp.getheader("Content-Type", "").startswith("application/json"), (
                what,
                jar,
                resp.status,
                raw[:300],
            )
            cookies = [v for k, v in resp.getheaders() if k.lower() == "set-cookie"]
            assert len(cookies) <= 1, (what, cookies)
            if jar is not None:
                jar["set"] = cookies[0] if cookies else None
                if cookies:
                    take(jar, cookies[0], what)
            return resp.status, json.loads(raw)
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.unlink(missing_ok=True)


def take(jar, set_cookie, what):
    """Keeps a Set-Cookie in the jar after checking its attributes: a token, or a deletion."""
    first, *attrs = [p.strip() for p in set_cookie.split(";")]
    name, _, value = first.partition("=")
    assert name == COOKIE, (what, set_cookie)
    attrs = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attrs}
    assert "domain" not in attrs and attrs.get("path") == "/", (what, set_cookie)
    assert "secure" in attrs, (what, set_cookie)  # what the __Host- prefix demands
    if attrs.get("max-age") == "0" or "1970" in attrs.get("expires", ""):
        jar["token"], jar["max_age"] = None, 0
        return
    assert TOKEN.match(value), (what, set_cookie)
    assert "httponly" in attrs and attrs.get("samesite", "").lower() == "lax", (what, set_cookie)
    jar["token"], jar["max_age"] = value, int(attrs["max-age"])


def ttl(r, token):
    """SESSIONGATE.TTL, or None once the session is gone."""
    try:
        return r.execute_command("SESSIONGATE.TTL", KEY, token)
    except redis.ResponseError as e:
        assert str(e) in GONE.values(), e
        return None


def visits(app, r, codes, idle):
    say = lambda what: print(f"  {app.name} (codes {'on' if codes else 'off'}): {what}: ok", flush=True)
    alice = {}
    assert app.request("GET", "/", alice) == (200, {"user": None, "cart": []})
    assert app.request("POST", "/cart", alice, {"item": "book"}) == (200, {"cart": ["book"]})
    pre = alice["token"]
    assert pre and 0 < alice["max_age"] <= idle, alice
    assert idle - 5 <= ttl(r, pre) <= idle
    odd = 'caf\u00e9 "quoted" {json} \\ \u2603 ' + "x" * 50
    assert app.request("POST", "/cart", alice, {"item": odd})[1] == {"cart": ["book", odd]}
    bob = {}
    assert app.request("POST", "/cart", bob, {"item": "pen"}) == (200, {"cart": ["pen"]})
    assert bob["token"] != pre
    assert app.request("GET", "/", alice) == (200, {"user": None, "cart": ["book", odd]})
    assert app.request("GET", "/me", alice) == (401, NOT_LOGGED_IN)
    say("anonymous sessions, each jar its own, data round trip")

    wrong = {"user": "alice", "password": "guess"}
    assert app.request("POST", "/login", alice, wrong) == (401, {"error": "wrong user or password"})
    right = {"user": "alice", "password": "wonderland"}
    assert app.request("POST", "/login", alice, right) == (
        200,
        {"user": "alice", "cart": ["book", odd]},
    )
    token = alice["token"]
    assert token != pre and ttl(r, pre) is None, "login did not renew the session id"
    assert app.request("GET", "/me", alice) == (200, {"user": "alice", "cart": ["book", odd]})
    assert app.request("GET", "/me", {"token": pre}) == (401, NOT_LOGGED_IN)
    say("login renews the id (the old token dead), keeps the data")

    r.execute_command("SESSIONGATE.EXPIRE", KEY, token, 100)
    assert app.request("GET", "/me", alice)[0] == 200
    left = ttl(r, token)
    assert idle - 5 <= left <= idle and abs(alice["max_age"] - left) <= 2, (left, alice)
    say("each request slides the idle timeout; cookie Max-Age = the server's TTL")

    other = r.execute_command("SESSIONGATE.START", OTHER_KEY, 600)
    foreign_key, foreign = foreign_token(token)
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    tampered = [
        flipped, token[:40], token + "x", token.upper(), "v1..", "garbage", "x" * 3000, "",
        other, foreign, b"\xff\xfe\x00", "caf\u00e9".encode(),
    ]
    try:  # the forged cookie reaches alice's session, which refuses it
        r.execute_command("SESSIONGATE.TTL", foreign_key, foreign)
        raise AssertionError("a foreign key read alice's session")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGAPP " if codes else "the signature contained"), e
    for bad in tampered:
        jar = {"token": bad}
        got = app.request("GET", "/me", jar)
        # A NUL byte is no valid header octet: Node's HTTP parser answers 400 before the app.
        refused = isinstance(bad, bytes) and b"\x00" in bad and got == (400, "refused by the HTTP server")
        assert got == (401, NOT_LOGGED_IN) or refused, (bad, got)
        assert refused or jar["token"] is None or TOKEN.match(jar["token"]), jar  # cleared
    assert app.request("GET", "/me", alice) == (200, {"user": "alice", "cart": ["book", odd]})
    say(f"{len(tampered)} tampered and other applications' cookies: anonymous, no 500")

    r.execute_command("SESSIONGATE.EXPIRE", KEY, bob["token"], 1)
    wait_until("bob's session to expire", lambda: ttl(r, bob["token"]) is None, timeout=30)
    assert app.request("GET", "/", bob) == (200, {"user": None, "cart": []})
    say("an idle session expires into an anonymous one")

    assert app.request("POST", "/logout", alice) == (200, {"user": None})
    assert alice["token"] is None, alice
    assert ttl(r, token) is None, "logout left the session"
    assert app.request("GET", "/me", {"token": token}) == (401, NOT_LOGGED_IN)
    say("logout ends the session and clears the cookie")


def foreign_token(token):
    """Another key whose signature of `token`'s id lands in `token`'s slot (so the same session
    key): it verifies, but the session is KEY's: WRONGAPP."""
    import hashlib
    import hmac

    def crc16(data):
        crc = 0
        for b in data:
            crc ^= b << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
                crc &= 0xFFFF
        return crc

    ident = token[3:19]
    slot = crc16(token.encode()) % 16384
    for i in range(1_000_000):
        key = f"foreign-{i}"
        sig = hmac.new(key.encode(), ident.encode(), hashlib.sha256).hexdigest()
        candidate = f"v1.{ident}.{sig}"
        if crc16(candidate.encode()) % 16384 == slot:
            return key, candidate
    raise AssertionError("no foreign key found")


def capped(app, r):
    """A 2-second cap: requests keep sliding the idle timeout, yet the session ends at the cap,
    and no cookie outlives it."""
    jar = {}
    app.request("POST", "/cart", jar, {"item": "book"})
    assert jar["max_age"] <= 2, jar
    app.request("POST", "/login", jar, {"user": "alice", "password": "wonderland"})
    assert jar["max_age"] <= 2 and ttl(r, jar["token"]) <= 2, jar
    token = jar["token"]
    wait_until(
        "the capped session to end",
        lambda: app.request("GET", "/me", dict(jar)) == (401, NOT_LOGGED_IN),
        timeout=30,
    )
    assert ttl(r, token) is None, "the session outlived its cap"
    print(f"  {app.name}: a session ends at its cap however active: ok", flush=True)


def rotation(app, r):
    """Flask's `old_sign_key`: an app on a new key moves a session of the old one onto it
    (RENEW), nobody logged out, the old token dead."""
    jar = {}
    app.request("POST", "/cart", jar, {"item": "book"})
    app.request("POST", "/login", jar, {"user": "alice", "password": "wonderland"})
    old = jar["token"]
    new_app = App(app.name, r.connection_pool.connection_kwargs["port"],
                  SESSIONGATE_SIGN_KEY="rotated-key", SESSIONGATE_OLD_SIGN_KEY=KEY)
    try:
        assert new_app.request("GET", "/me", jar) == (200, {"user": "alice", "cart": ["book"]})
        assert jar["token"] != old and ttl(r, old) is None, jar
        assert r.execute_command("SESSIONGATE.PGET", "rotated-key", jar["token"], "user") == '"alice"'
    finally:
        new_app.stop()
    print(f"  {app.name}: sign-key rotation moves the session, nobody logged out: ok", flush=True)


def redis_down(app, server, jar):
    server.stop()
    status, _ = app.request("GET", "/me", dict(jar), allow_5xx=True)
    assert 500 <= status < 600, f"{app.name} with Redis down answered {status}"
    print(f"  {app.name}: Redis down: {status}, not 'logged out': ok", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    chosen = [f for f in ap.parse_args().frameworks.split(",") if f]
    idle = 600
    db = tempfile.mkdtemp(prefix="sessiongate-django-")
    django_env = {
        "DJANGO_SECRET_KEY": "test-only-secret",
        "DJANGO_DB": f"{db}/users.sqlite3",
        "SESSIONGATE_SIGN_KEY": KEY,
    }
    if "django" in chosen:
        django_setup({**os.environ, **django_env})
    for framework in chosen:
        t0 = time.monotonic()
        extra = django_env if framework == "django" else {}
        for codes in (False, True):
            server = Server(*(["error-codes", "yes"] if codes else []))
            apps = []
            try:
                r = server.conn(decode_responses=True)
                env = {"SESSION_IDLE_SECONDS": str(idle), "SESSION_MAX_SECONDS": "3600", **extra}
                app = App(framework, server.port, **env)
                apps.append(app)
                visits(app, r, codes, idle)
                if codes and framework == "flask":
                    rotation(app, r)
                if codes:
                    short = App(framework, server.port, **{**env, "SESSION_MAX_SECONDS": "2"})
                    apps.append(short)
                    capped(short, r)
                jar = {}
                app.request("POST", "/cart", jar, {"item": "book"})
                redis_down(app, server, jar)
            finally:
                for a in apps:
                    a.stop()
                server.stop()
        print(f"{framework} end to end: ok ({time.monotonic() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
