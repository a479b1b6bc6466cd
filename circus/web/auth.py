"""Logins for the web console: ``httpd_auth`` password files, sessions, throttling.

The password file has one ``user:hash`` line per user (``#`` comments and
blank lines are skipped). A hash is
``scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>``: the standard library's
``hashlib.scrypt`` of the UTF-8 password, 32-byte key, 16-byte random salt.
``circushttpd --hash-password`` prints one.

A login makes a session: a random token in the ``circus_session`` cookie
(HttpOnly, SameSite=Strict, Secure over TLS), valid ``session_timeout``
seconds, kept in the console's memory (a restart logs everyone out). Every
form already carries tornado's ``_xsrf`` token, the login form too.
Failed logins are throttled per client address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from typing import Dict, List, Optional, Tuple

import tornado.web
import tornado.websocket

logger = logging.getLogger("circus.web")

SESSION_COOKIE = "circus_session"
DEFAULT_SESSION_TIMEOUT = 8 * 3600.0
# At most MAX_FAILURES failed logins per client address within FAILURE_WINDOW seconds.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_KEY_BYTES = 32


def hash_password(password: str, n: int = _SCRYPT["n"], r: int = _SCRYPT["r"], p: int = _SCRYPT["p"]) -> str:
    """The ``scrypt$n$r$p$salt$key`` line part of ``password``."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES)
    return "scrypt$%d$%d$%d$%s$%s" % (n, r, p, base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` hashes to ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        # maxmem: n=2**14, r=8 needs 16 MiB; allow 4 times that for stronger files.
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(expected), maxmem=128 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def load_users(path: str) -> Dict[str, str]:
    """``{user: hash}`` of a password file; ValueError naming the file (and line) otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError("cannot read the httpd_auth file %s: %s" % (path, reason)) from None
    users = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user or not stored.startswith("scrypt$") or stored.count("$") != 5:
            raise ValueError("httpd_auth file %s, line %d: expected user:scrypt$n$r$p$salt$key "
                             "(see circushttpd --hash-password)" % (path, number))
        users[user] = stored
    if not users:
        raise ValueError("the httpd_auth file %s has no user" % path)
    return users


class Auth:
    """The users, the open sessions and the failure counts of one console."""

    def __init__(self, users: Dict[str, str], session_timeout: float = DEFAULT_SESSION_TIMEOUT,
                 secure: bool = False) -> None:
        self.users = users
        self.session_timeout = session_timeout
        self.secure = secure  # served over TLS: the cookie says Secure
        self._sessions: Dict[str, Tuple[str, float]] = {}  # token -> (user, monotonic expiry)
        self._failures: Dict[str, List[float]] = {}  # client address -> failure times

    # -- sessions ---------------------------------------------------------

    def open_session(self, user: str) -> str:
        self._expire()
        token = secrets.token_urlsafe(32)
        self._sessions[token] = (user, time.monotonic() + self.session_timeout)
        return token

    def user_of(self, token: Optional[str]) -> Optional[str]:
        """The user of a live session ``token``, None otherwise."""
        found = self._sessions.get(token or "")
        if found is None:
            return None
        user, expiry = found
        if time.monotonic() >= expiry:
            del self._sessions[token or ""]
            return None
        return user

    def close_session(self, token: Optional[str]) -> None:
        self._sessions.pop(token or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, (_, expiry) in self._sessions.items() if expiry <= now]:
            del self._sessions[token]

    # -- logins -----------------------------------------------------------

    def throttled(self, address: str) -> float:
        """Seconds ``address`` must wait before trying again (0: it may try now)."""
        now = time.monotonic()
        recent = [t for t in self._failures.get(address, []) if now - t < FAILURE_WINDOW]
        self._failures[address] = recent
        if len(recent) < MAX_FAILURES:
            return 0.0
        return FAILURE_WINDOW - (now - recent[0])

    def check(self, address: str, user: str, password: str) -> bool:
        """True for a right ``user``/``password``; a failure is counted against ``address``."""
        stored = self.users.get(user)
        # An unknown user costs a hash too: the answer time does not tell users apart.
        ok = verify_password(stored or hash_password(""), password) and stored is not None
        if not ok:
            if len(self._failures) > 10000:  # a flood of addresses must not grow memory without bound
                self._failures.clear()
            self._failures.setdefault(address, []).append(time.monotonic())
            logger.warning("web console: failed login for %r from %s", user, address)
        return ok


def session_user(handler: tornado.web.RequestHandler) -> Optional[str]:
    """The logged-in user of a request, None if not logged in (or no auth)."""
    auth: Optional[Auth] = handler.application.settings.get("auth")
    if auth is None:
        return None
    return auth.user_of(handler.get_cookie(SESSION_COOKIE))


def require_login(handler: tornado.web.RequestHandler) -> None:
    """With auth on, send a request without a session to the login page (a GET) or refuse it."""
    if handler.application.settings.get("auth") is None or session_user(handler) is not None:
        return
    if handler.request.method == "GET" and not isinstance(handler, tornado.websocket.WebSocketHandler):
        from urllib.parse import quote

        handler.redirect("/login?next=%s" % quote(handler.request.uri or "/", safe=""))
        raise tornado.web.Finish()
    raise tornado.web.HTTPError(403, "log in first")


def local_path(target: str) -> str:
    """``target`` if it is a path of this site (no scheme, no //host, no backslash tricks), else ``/``."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class LoginHandler(tornado.web.RequestHandler):
    """GET: the login form; POST: check the password, open a session, go back to ``next``."""

    @property
    def auth(self) -> Auth:
        return self.application.settings["auth"]

    def get(self) -> None:
        self._form(None)

    def post(self) -> None:
        address = self.request.remote_ip or "?"
        wait = self.auth.throttled(address)
        if wait:
            self.set_status(429)
            self._form("too many failed logins: try again in %d s" % (int(wait) + 1))
            return
        user = self.get_body_argument("username", "")
        if not self.auth.check(address, user, self.get_body_argument("password", "")):
            # The form again, with the reason (401 would need an HTTP authentication scheme).
            self._form("wrong user name or password")
            return
        token = self.auth.open_session(user)
        self.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=self.auth.secure,
                        max_age=int(self.auth.session_timeout), path="/")
        logger.info("web console: %s logged in from %s", user, address)
        self.redirect(local_path(self.get_body_argument("next", "/")))

    def _form(self, error: Optional[str]) -> None:
        self.render("login.html", error=error, next=local_path(self.get_argument("next", "/")),
                    version=self.application.settings.get("version", ""))


class LogoutHandler(tornado.web.RequestHandler):
    """POST: close the session, forget the cookie."""

    def post(self) -> None:
        auth: Auth = self.application.settings["auth"]
        auth.close_session(self.get_cookie(SESSION_COOKIE))
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.redirect("/login")
