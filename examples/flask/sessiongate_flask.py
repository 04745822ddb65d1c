"""Flask sessions in Session Gate: copy this file into your project and set

    app.session_interface = SessionGateInterface(redis.Redis(...), sign_key,
                                                 idle=1800, max_lifetime=28800)

`session` is then a dict kept server-side, one payload per key (its JSON). The token START issues
is the cookie (Flask cannot choose it). Each request reads the session and slides its idle
timeout in one round trip, and the cookie's Max-Age is the server's TTL (under the cap, EXPIRE
answers OK but sets less). `session.regenerate()` (at login) RENEWs the token at the end of the
request, payloads kept; `session.end()` (logout) ENDs it. A cookie that names no live session of
this application is an empty session, never an error; Redis failures raise (a 500). With
`old_sign_key`, a session of the previous key is moved onto the new one (RENEW), nobody logged
out. docs/frameworks.md.
"""

import json
import re

import redis
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

TOKEN = re.compile(r"\Av1\.[0-9A-Za-z]{16}\.[0-9a-f]{64}\Z")
# "No session of ours": the codes (load argument `error-codes yes`) or the C module's sentences.
GONE_CODES = {"NOSESSION", "BADSIG", "WRONGAPP", "BADTOKEN"}
GONE_TEXTS = {
    "<token> must have at least one character",
    "<token> format is invalid",
    "the signature contained in <token> is invalid",
    "the session id contained in <token> does not exist",
    "the signature contained in <token> seems to be valid, but is different from the stored "
    "signature in the session",
}


def gone(reply):
    text = str(reply)
    return isinstance(reply, redis.ResponseError) and (
        text.split(" ", 1)[0] in GONE_CODES or text in GONE_TEXTS
    )


def bad_signature(reply):
    text = str(reply)
    return text.startswith("BADSIG ") or text == "the signature contained in <token> is invalid"


class SessionGateSession(CallbackDict, SessionMixin):
    def __init__(self, data=None, token=None, ttl=None, stored=None, had_cookie=False):
        super().__init__(data, lambda s: setattr(s, "modified", True))
        self.token, self.ttl, self.stored, self.had_cookie = token, ttl, stored or {}, had_cookie
        self.modified = self.renew = self.ended = False

    def regenerate(self):
        """A new token for this session at the end of the request (login: session fixation)."""
        self.renew = True

    def end(self):
        """Ends the session at the end of the request (logout)."""
        self.clear()
        self.ended = True


class SessionGateInterface(SessionInterface):
    def __init__(self, client, sign_key, idle=1800, max_lifetime=None, old_sign_key=None):
        self.r, self.key, self.old_key = client, sign_key, old_sign_key
        self.idle, self.cap = idle, max_lifetime

    def sg(self, command, *args, key=None):
        return self.r.execute_command(f"SESSIONGATE.{command}", key or self.key, *args)

    def read(self, token):
        """(payloads, TTL) of the session, its idle timeout slid in the same round trip; the
        error reply instead when it is not one of ours."""
        pipe = self.r.pipeline(transaction=False)
        for command, *args in (("PGETALL",), ("EXPIRE", self.idle), ("TTL",)):
            pipe.execute_command(f"SESSIONGATE.{command}", self.key, token, *args)
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, redis.ResponseError) and not gone(reply):
                raise reply
        payloads, _, ttl = replies
        if gone(payloads) or gone(ttl):
            return payloads if gone(payloads) else ttl
        if isinstance(payloads, list):  # RESP2, and Redis 6.2 under RESP3
            payloads = dict(zip(payloads[::2], payloads[1::2]))
        return {_str(k): _str(v) for k, v in payloads.items()}, ttl

    def open_session(self, app, request):
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or not TOKEN.match(token):  # junk: no round trip
            return SessionGateSession(had_cookie=token is not None)
        found = self.read(token)
        if bad_signature(found) and self.old_key:  # sign-key rotation
            try:
                token = _str(self.sg("RENEW", token, self.key, key=self.old_key))
                found = self.read(token)
            except redis.ResponseError as e:
                if not gone(e):
                    raise
        if isinstance(found, redis.ResponseError):
            return SessionGateSession(had_cookie=True)
        stored, ttl = found
        data = {name: json.loads(value) for name, value in stored.items()}
        return SessionGateSession(data, token, ttl, stored, had_cookie=True)

    def save_session(self, app, session, response):
        name, path = self.get_cookie_name(app), self.get_cookie_path(app)
        if session.ended and session.token:
            try:
                self.sg("END", session.token)
            except redis.ResponseError as e:  # END of a gone session is an error: done too
                if not gone(e):
                    raise
            session.token = None
        if session.token and session.renew:
            session.token = _str(self.sg("RENEW", session.token))
        if session.token is None:
            if not session:
                if session.had_cookie:
                    response.delete_cookie(name, path=path, secure=self.get_cookie_secure(app))
                return
            args = [self.idle] + ([self.cap] if self.cap else [])
            session.token = _str(self.sg("START", *args))
            session.ttl = min(self.idle, self.cap or self.idle)
        pipe = self.r.pipeline(transaction=False)
        encoded = {k: json.dumps(v) for k, v in session.items()}
        for k, v in encoded.items():
            if session.stored.get(k) != v:
                pipe.execute_command("SESSIONGATE.PSET", self.key, session.token, k, v)
        for k in session.stored.keys() - encoded.keys():
            pipe.execute_command("SESSIONGATE.PDEL", self.key, session.token, k)
        if len(pipe):
            pipe.execute()
        response.vary.add("Cookie")
        response.set_cookie(
            name,
            session.token,
            max_age=session.ttl,
            path=path,
            secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app),
            samesite=self.get_cookie_samesite(app),
        )


def _str(value):
    return value.decode() if isinstance(value, bytes) else value
