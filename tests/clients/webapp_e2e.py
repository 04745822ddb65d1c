"""The example web app (examples/webapp/app.py) end to end: the app runs as its own process,
served over real HTTP on a loopback port, against a real redis-server with the module. This
test is the browser: it keeps the cookie, and checks every Set-Cookie it gets.

Three instances of the app share the server: the first with sign key A; the second with sign
key B and A as the old key (a rotation in progress); the third with a 2-second absolute cap.
Several browsers (cookie jars, each with its own User-Agent) log in as one user at once for the
"your sessions" page, logging out one device or all others, and a password change.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from servers import ROOT, Server, die_with_parent, wait_until

APP = ROOT / "examples" / "webapp" / "app.py"
COOKIE = "__Host-session"
NOT_LOGGED_IN = {"error": "not logged in"}
NO_SESSION = "the session id contained in <token> does not exist"


class App:
    """One app process on a free loopback port."""

    def __init__(self, redis_port, **env):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"sessiongate-webapp-{self.port}.log"
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "PORT": str(self.port),
            **env,
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(APP)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        try:
            wait_until("the web app to answer", self.answers, timeout=20)
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

    def request(self, method, path, cookie=None, form=None, agent=None):
        """(status, JSON body, Set-Cookie header or None). `cookie` may be bytes (any octets)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path)
            if agent is not None:
                conn.putheader("User-Agent", agent)
            body = None
            if form is not None:
                body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
                conn.putheader("Content-Type", "application/x-www-form-urlencoded")
                conn.putheader("Content-Length", str(len(body)))
            if cookie is not None:
                value = cookie if isinstance(cookie, bytes) else cookie.encode()
                conn.putheader("Cookie", f"{COOKIE}=".encode() + value)
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read()
            assert resp.status != 500, (
                f"{method} {path}: 500; the app's log:\n{self.log.read_text()}"
            )
            assert resp.getheader("Content-Type") == "application/json", resp.getheaders()
            return resp.status, json.loads(raw), resp.getheader("Set-Cookie")
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.unlink(missing_ok=True)


def session_cookie(set_cookie, max_age):
    """The token a Set-Cookie hands out, after checking every attribute."""
    assert set_cookie, "no Set-Cookie"
    first, *attrs = [p.strip() for p in set_cookie.split(";")]
    name, _, token = first.partition("=")
    assert name == COOKIE, set_cookie
    attrs = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attrs}
    assert attrs.keys() >= {"httponly", "secure", "samesite", "path", "max-age"}, set_cookie
    assert "domain" not in attrs, set_cookie  # what the __Host- prefix demands
    assert attrs["samesite"] == "Lax" and attrs["path"] == "/", set_cookie
    assert attrs["max-age"] == str(max_age), set_cookie
    return token


def gone(r, key, token):
    """The server holds no session for `token`."""
    try:
        r.execute_command("SESSIONGATE.TTL", key, token)
    except redis.ResponseError as e:
        return str(e) == NO_SESSION
    return False


def cleared(set_cookie):
    return (
        set_cookie is not None
        and set_cookie.startswith(f"{COOKIE}=;")
        and "Max-Age=0" in set_cookie
    )


class Browser:
    """One cookie jar and User-Agent: keeps the session cookie it is given, drops a cleared one."""

    def __init__(self, app, agent, max_age):
        self.app, self.agent, self.max_age, self.cookie = app, agent, max_age, None

    def request(self, method, path, form=None):
        status, body, set_cookie = self.app.request(method, path, self.cookie, form, self.agent)
        if cleared(set_cookie):
            self.cookie = None
        elif set_cookie:
            self.cookie = session_cookie(set_cookie, self.max_age)
        return status, body

    def login(self, user, password):
        self.request("GET", "/")
        return self.request("POST", "/login", {"user": user, "password": password})


def several_devices(a, r):
    """One user logged in from three browsers at once: the list, "log out this one", "log out
    all other devices", and a password change that ends every other session."""
    laptop, phone, tablet = (Browser(a, agent, 3600) for agent in ("laptop", "phone", "tablet"))
    for b in (laptop, phone, tablet):
        assert b.login("bob", "builder")[0] == 200
        time.sleep(0.002)  # distinct creation times, so "newest first" is one order
    status, body = laptop.request("GET", "/sessions")
    assert status == 200, body
    listed = body["sessions"]
    assert [s["device"] for s in listed] == ["tablet", "phone", "laptop"], listed
    assert [s["current"] for s in listed] == [False, False, True], listed
    assert all(590 < s["ttl"] <= 600 and s["created"] > 0 for s in listed), listed
    ids = {s["device"]: s["id"] for s in listed}
    seen_by_phone = phone.request("GET", "/sessions")[1]["sessions"]
    without_ttl = [(s["id"], s["created"], s["device"]) for s in listed]
    assert [(s["id"], s["created"], s["device"]) for s in seen_by_phone] == without_ttl
    assert [s["current"] for s in seen_by_phone] == [False, True, False]

    # "Log out this one": the tablet, from the laptop.
    assert laptop.request("POST", "/sessions/logout", {"id": ids["tablet"]}) == (200, {"ended": 1})
    assert tablet.request("GET", "/me") == (401, NOT_LOGGED_IN) and tablet.cookie is None
    assert laptop.request("POST", "/sessions/logout", {"id": "not-an-id"})[0] == 400
    # "Log out all other devices", from the phone: the laptop goes.
    assert phone.request("POST", "/sessions/logout-others") == (200, {"ended": 1})
    assert laptop.request("GET", "/me") == (401, NOT_LOGGED_IN)
    assert phone.request("GET", "/me")[0] == 200
    assert [s["device"] for s in phone.request("GET", "/sessions")[1]["sessions"]] == ["phone"]
    print("several devices: the list, log out one, log out all others: ok", flush=True)

    # A password change ends every other session and renews the current one.
    for b in (laptop, tablet):
        assert b.login("bob", "builder")[0] == 200
    before = phone.cookie
    assert phone.request("POST", "/password", {"password": "guess", "new": "x" * 8})[0] == 401
    status, body = phone.request("POST", "/password", {"password": "builder", "new": "b" * 12})
    assert (status, body) == (200, {"ended": 2}), body
    assert phone.cookie != before and gone(r, "key-A", before), "the current session not renewed"
    for b in (laptop, tablet):
        assert b.request("GET", "/me") == (401, NOT_LOGGED_IN)
    assert phone.request("GET", "/me")[0] == 200
    assert laptop.login("bob", "builder")[0] == 401
    assert laptop.login("bob", "b" * 12)[0] == 200
    print("a password change ends every other session, renews this one: ok", flush=True)
    for b in (laptop, phone):
        assert b.request("POST", "/logout")[0] == 200


def main():
    server = Server()
    apps = []
    try:
        r = server.conn()
        a = App(
            server.port,
            SESSIONGATE_SIGN_KEY="key-A",
            SESSION_IDLE_SECONDS="600",
            SESSION_MAX_SECONDS="3600",
        )
        apps.append(a)

        # A visitor gets a pre-login session, and puts something in the cart.
        status, body, set_cookie = a.request("GET", "/")
        assert status == 200 and body == {"user": None, "cart": []}, body
        pre = session_cookie(set_cookie, 3600)
        status, body, set_cookie = a.request("POST", "/cart", pre, {"item": "book"})
        assert (status, body, set_cookie) == (200, {"cart": ["book"]}, None)
        assert a.request("GET", "/me", pre)[:2] == (401, NOT_LOGGED_IN)
        assert a.request("POST", "/login", pre, {"user": "alice", "password": "guess"})[:2] == (
            401,
            {"error": "wrong user or password"},
        )

        # Login starts the user's own session (STARTFOR): a new token, the cart copied, the
        # pre-login token dead.
        status, body, set_cookie = a.request(
            "POST", "/login", pre, {"user": "alice", "password": "wonderland"}
        )
        assert status == 200 and body == {"user": "alice", "cart": ["book"]}, body
        token = session_cookie(set_cookie, 3600)
        assert token != pre
        assert a.request("GET", "/me", token)[:2] == (200, {"user": "alice", "cart": ["book"]})
        status, body, set_cookie = a.request("GET", "/me", pre)
        assert (status, body) == (401, NOT_LOGGED_IN) and cleared(set_cookie), set_cookie
        assert gone(r, "key-A", pre), "the pre-login token still names a session"
        assert token.startswith("v2."), "a user's session is owned"
        print(
            "login: a session of the user's own, cart kept, pre-login token dead: ok",
            flush=True,
        )

        # Sliding expiry: each request puts the idle timeout back to 600 s.
        r.execute_command("SESSIONGATE.EXPIRE", "key-A", token, 100)
        assert a.request("GET", "/me", token)[0] == 200
        assert 590 < r.execute_command("SESSIONGATE.TTL", "key-A", token) <= 600
        print("each request slides the idle timeout: ok", flush=True)

        # Tampered cookies: a clean "not logged in" (and the cookie cleared), never a 500.
        other_app = r.execute_command("SESSIONGATE.START", "another-application", 600).decode()
        flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
        tampered = [
            flipped,
            token[:40],
            token + "x",
            token.replace(".", "", 1),
            "v1..",
            "garbage",
            "x" * 4000,
            other_app,
            token.upper(),
            "",
            b"\xff\xfe\x00",
            "caf\u00e9".encode(),
        ]
        for bad in tampered:
            status, body, set_cookie = a.request("GET", "/me", bad)
            assert (status, body) == (401, NOT_LOGGED_IN), (bad, status, body)
        status, body, set_cookie = a.request("GET", "/", flipped)  # a fresh visitor session
        assert status == 200 and body == {"user": None, "cart": []}
        assert session_cookie(set_cookie, 3600) != token
        assert a.request("GET", "/me", token)[:2] == (200, {"user": "alice", "cart": ["book"]})
        print(
            f"{len(tampered)} tampered cookies: 401 not logged in, no 500, "
            "the real session untouched: ok"
        )

        several_devices(a, r)

        # Another login kept for the key rotation below; then log out.
        _, _, set_cookie = a.request("GET", "/")
        status, _, set_cookie = a.request(
            "POST",
            "/login",
            session_cookie(set_cookie, 3600),
            {"user": "alice", "password": "wonderland"},
        )
        rotating = session_cookie(set_cookie, 3600)
        status, body, set_cookie = a.request("POST", "/logout", token)
        assert (status, body) == (200, {"user": None}) and cleared(set_cookie), set_cookie
        assert a.request("GET", "/me", token)[:2] == (401, NOT_LOGGED_IN)
        assert gone(r, "key-A", token), "logout left the session"
        print("logout ends the session: ok", flush=True)

        # Key rotation: the app on key B, with A as the old key, keeps everyone logged in. A
        # user's (owned) session stays on key A until it ends; a visitor's moves to key B.
        b = App(
            server.port,
            SESSIONGATE_SIGN_KEY="key-B",
            SESSIONGATE_OLD_SIGN_KEY="key-A",
            SESSION_IDLE_SECONDS="600",
            SESSION_MAX_SECONDS="3600",
        )
        apps.append(b)
        r.execute_command("SESSIONGATE.EXPIRE", "key-A", rotating, 100)
        status, body, set_cookie = b.request("GET", "/me", rotating)
        assert (status, body, set_cookie) == (200, {"user": "alice", "cart": []}, None), body
        assert 590 < r.execute_command("SESSIONGATE.TTL", "key-A", rotating) <= 600
        _, _, set_cookie = a.request("GET", "/")
        visitor = session_cookie(set_cookie, 3600)
        a.request("POST", "/cart", visitor, {"item": "pen"})
        status, body, set_cookie = b.request("GET", "/", visitor)
        assert (status, body) == (200, {"user": None, "cart": ["pen"]}), body
        moved = session_cookie(set_cookie, 3600)
        assert moved != visitor and gone(r, "key-A", visitor)
        assert r.execute_command("SESSIONGATE.PGET", "key-B", moved, "cart") == b"pen"
        # Logged in on B too: the user's sessions under both keys, listed and revoked.
        on_b = Browser(b, "new browser", 3600)
        assert on_b.login("alice", "wonderland")[0] == 200
        assert on_b.cookie.startswith("v2.") and on_b.cookie != rotating
        listed = on_b.request("GET", "/sessions")[1]["sessions"]
        assert len(listed) == 2 and [s["current"] for s in listed] == [True, False], listed
        assert on_b.request("POST", "/sessions/logout-others") == (200, {"ended": 1})
        assert b.request("GET", "/me", rotating)[:2] == (401, NOT_LOGGED_IN)
        assert gone(r, "key-A", rotating)
        print(
            "sign-key rotation: nobody logged out, a visitor's session moved to the new key, "
            "a user's sessions listed and revoked under both keys: ok",
            flush=True,
        )

        # The absolute cap (2 s on this instance): requests keep sliding the idle timeout to
        # 600 s, yet the session ends at its cap. (Bounded wait; nothing asserts how long.)
        short = App(
            server.port,
            SESSIONGATE_SIGN_KEY="key-B",
            SESSION_IDLE_SECONDS="600",
            SESSION_MAX_SECONDS="2",
        )
        apps.append(short)
        _, _, set_cookie = short.request("GET", "/")
        _, _, set_cookie = short.request(
            "POST",
            "/login",
            session_cookie(set_cookie, 2),
            {"user": "alice", "password": "wonderland"},
        )
        capped = session_cookie(set_cookie, 2)
        assert short.request("GET", "/me", capped)[0] == 200
        assert r.execute_command("SESSIONGATE.TTL", "key-B", capped) <= 2
        wait_until(
            "the capped session to end",
            lambda: short.request("GET", "/me", capped)[:2] == (401, NOT_LOGGED_IN),
            timeout=30,
        )
        assert gone(r, "key-B", capped), "the capped session outlived its cap"
        print("a session past its absolute cap is gone, however active: ok", flush=True)
    finally:
        for app in apps:
            app.stop()
        server.stop()


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print(f"web app end to end: ok ({time.monotonic() - t0:.1f} s)")
