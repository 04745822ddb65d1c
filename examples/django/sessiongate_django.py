"""Django sessions in Session Gate: copy this file into your project and set

    SESSION_ENGINE = "sessiongate_django"
    SESSIONGATE = {"URL": "redis://127.0.0.1:6379/0", "SIGN_KEY": "<long random secret>",
                   "MAX_LIFETIME": 28800}          # the absolute cap, seconds (optional)
    SESSION_COOKIE_AGE = 1800                     # the idle timeout, seconds
    SESSION_SAVE_EVERY_REQUEST = True             # slide it on every request

The session key is the token START issues (Django cannot choose it); each session value is one
payload holding its JSON; cycle_key() (Django's login) is RENEW; the cookie's Max-Age is the
server's own TTL, so it never outlives the cap. A cookie that names no live session of this
application is an empty session, never an error; Redis failures raise. docs/frameworks.md.
"""

import json
import re

import redis
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase, UpdateError

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
_client = None


def gone(error):
    text = str(error)
    return text.split(" ", 1)[0] in GONE_CODES or text in GONE_TEXTS


def client():
    global _client
    if _client is None:  # tokens and payloads as str, not bytes
        _client = redis.Redis.from_url(settings.SESSIONGATE["URL"], decode_responses=True)
    return _client


def check(replies):
    """The replies of a pipeline; UpdateError if the session is gone, other errors raised."""
    for r in replies:
        if isinstance(r, redis.ResponseError):
            raise UpdateError() if gone(r) else r
    return replies


class SessionStore(SessionBase):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._stored = {}  # payload name -> JSON as stored
        self._ttl = None  # (age asked, seconds the server set)

    def _key(self):
        return settings.SESSIONGATE["SIGN_KEY"]

    def _sg(self, command, *args):
        return client().execute_command(f"SESSIONGATE.{command}", self._key(), *args)

    def _validate_session_key(self, key):
        return bool(key) and TOKEN.match(key) is not None  # junk cookies: no round trip

    def load(self):
        try:
            payloads = self._sg("PGETALL", self.session_key)
        except redis.ResponseError as e:
            if not gone(e):
                raise
            self._session_key = None
            return {}
        if isinstance(payloads, list):  # RESP2, and Redis 6.2 under RESP3
            payloads = dict(zip(payloads[::2], payloads[1::2]))
        self._stored = payloads
        return {name: json.loads(value) for name, value in payloads.items()}

    def exists(self, session_key):
        try:
            self._sg("TTL", session_key)
            return True
        except redis.ResponseError as e:
            if gone(e):
                return False
            raise

    def create(self):
        cap = settings.SESSIONGATE.get("MAX_LIFETIME")
        age = self.get_session_cookie_age()
        self._session_key = self._sg("START", age, *([cap] if cap else []))
        self._stored, self._ttl = {}, (age, min(age, cap or age))
        self.modified = True

    def save(self, must_create=False):
        if self.session_key is None:
            self.create()
        if self.get_expiry_age() == 0:
            return  # ended by an expiry in the past (EXPIRE 0), or gone meanwhile: the cookie too
        data = self._get_session(no_load=must_create)
        encoded = {name: json.dumps(value) for name, value in data.items()}
        pipe = client().pipeline(transaction=False)
        for name, value in encoded.items():
            if self._stored.get(name) != value:
                pipe.execute_command("SESSIONGATE.PSET", self._key(), self.session_key, name, value)
        for name in self._stored.keys() - encoded.keys():
            pipe.execute_command("SESSIONGATE.PDEL", self._key(), self.session_key, name)
        if len(pipe):
            check(pipe.execute(raise_on_error=False))
        self._stored = encoded

    def get_expiry_age(self, **kwargs):
        """Django's age, slid onto the session (EXPIRE), as the server set it: under the cap
        EXPIRE answers OK but sets less, so the cookie's Max-Age comes from TTL."""
        age = max(0, super().get_expiry_age(**kwargs))  # a past date: EXPIRE refuses < 0
        if kwargs:
            return age
        cap = settings.SESSIONGATE.get("MAX_LIFETIME")
        if self.session_key is None:  # START will set exactly this
            return min(age, cap or age)
        if self._ttl is None or self._ttl[0] != age:
            pipe = client().pipeline(transaction=False)
            pipe.execute_command("SESSIONGATE.EXPIRE", self._key(), self.session_key, age)
            pipe.execute_command("SESSIONGATE.TTL", self._key(), self.session_key)
            try:
                self._ttl = (age, check(pipe.execute(raise_on_error=False))[1])
            except UpdateError:
                return 0  # gone meanwhile: nothing to save, the cookie goes
        return self._ttl[1]

    def cycle_key(self):
        """RENEW: a new token for the same session, payloads and expiry kept (login)."""
        data = self._session
        if self.session_key is None:
            return self.create()
        try:
            self._session_key = self._sg("RENEW", self.session_key)
        except redis.ResponseError as e:
            if not gone(e):
                raise
            self.create()
        self._session_cache, self.modified = data, True

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is None:
            return
        try:
            self._sg("END", session_key)
        except redis.ResponseError as e:  # END of a gone session is an error: that is done too
            if not gone(e):
                raise

    @classmethod
    def clear_expired(cls):
        pass  # Redis expires sessions itself
