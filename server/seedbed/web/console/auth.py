"""Sign-in for the console: the admin password or an admin bearer token, then a signed
cookie session (HttpOnly, SameSite=Strict), a CSRF token on every form, and a bound on
failed sign-ins per address. Nothing else of the console answers without a session.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request, session

from ... import limits
from ...admin_password import AdminPassword
from ...fsutil import atomic_write
from ...tokens import looks_like_token, token_hash
from .. import seedbed

bp = Blueprint("auth", __name__, url_prefix="/console")
SECRET_FILE = "console-secret"  # noqa: S105 - a file name
OPEN_ENDPOINTS = {"auth.login_form", "auth.login"}
CSRF_FIELD = "csrf"
KEY_BYTES = 32


def secret_key(state_dir: Path) -> bytes:
    """The key that signs session cookies, made once into the state folder (0600)."""
    path = state_dir / SECRET_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = b""
    if len(key) < KEY_BYTES:  # missing (first start) or cut short: a new key, old sessions end
        key = secrets.token_bytes(KEY_BYTES)
        atomic_write(path, key, mode=0o600)
    return key


class LoginThrottle:
    """Failed sign-ins per address within a sliding window (limits.CONSOLE_LOGIN_*)."""

    def __init__(self, clock: Any = time.monotonic):
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] <= now - limits.CONSOLE_LOGIN_WINDOW_SECONDS:
            times.popleft()
        return times

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < limits.CONSOLE_LOGIN_FAILURES:
                return 0
            return int(times[0] + limits.CONSOLE_LOGIN_WINDOW_SECONDS - now) + 1

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent(address, now).append(now)
            self._failures.move_to_end(address)
            while len(self._failures) > limits.CONSOLE_LOGIN_ADDRESSES:
                self._failures.popitem(last=False)


def configure(app: Flask, state_dir: Path) -> None:
    app.secret_key = secret_key(state_dir)
    app.config.update(SESSION_COOKIE_NAME="seedbed_console", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/",
                      PERMANENT_SESSION_LIFETIME=limits.CONSOLE_SESSION_SECONDS)
    app.extensions["console-password"] = AdminPassword(state_dir)
    app.extensions["console-logins"] = LoginThrottle()
    app.before_request(guard)
    app.context_processor(lambda: {"csrf_token": csrf_token(), "who": signed_in()})


def _password() -> AdminPassword:
    return current_app.extensions["console-password"]


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def signed_in() -> str | None:
    """Who this session belongs to, or None (no session, expired, or the password changed)."""
    who, at, generation = session.get("who"), session.get("at"), session.get("gen")
    if not who or not isinstance(at, (int, float)):
        return None
    if time.time() - at > limits.CONSOLE_SESSION_SECONDS:
        return None
    expected = "token" if who.startswith("token:") else _password().generation()
    return who if generation == expected else None


def csrf_ok() -> bool:
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    known = session.get(CSRF_FIELD) or ""
    return bool(known) and hmac.compare_digest(sent.encode(), known.encode())


def guard() -> Response | None:
    """Before every console request: a session (except the sign-in), and CSRF on every POST."""
    if request.method == "POST" and not csrf_ok():
        return Response("refused: the form's CSRF token is missing or wrong; reload the page\n",
                        403, mimetype="text/plain")
    if request.endpoint in OPEN_ENDPOINTS or _public_file() or signed_in():
        return None
    if request.headers.get("HX-Request") or "text/event-stream" in request.headers.get("Accept", ""):
        return Response("sign in first\n", 401, {"HX-Redirect": "/console/login"}, mimetype="text/plain")
    # A relative Location: never built from the Host header.
    return Response("", 303, {"Location": "/console/login"})


def _public_file() -> bool:
    """The style sheet, which the sign-in page uses too (it holds nothing about the lab)."""
    return request.endpoint == "pages.static" and (request.view_args or {}).get("filename") == "console.css"


def record(message: str, **where: Any) -> None:
    """An action taken in the console, as an event (who did it is in the message)."""
    service = seedbed()
    with service.store.transaction() as db:
        service.store.add_event(db, service.lifecycle.clock(), "console", message, **where)


@bp.get("/login")
def login_form() -> Any:
    return _login_page()


def _login_page(error: str | None = None, status: int = 200) -> Any:
    return render_template("login.html", error=error, password_set=_password().is_set(),
                           state_dir=seedbed().settings.state_dir), status


@bp.post("/login")
def login() -> Any:
    address = request.remote_addr or "?"
    throttle: LoginThrottle = current_app.extensions["console-logins"]
    wait = throttle.retry_after(address)
    if wait:
        page, _ = _login_page(f"Too many failed sign-ins from {address}: try again in {wait} s.", 429)
        return page, 429, {"Retry-After": str(wait)}
    who = _credential_owner(request.form.get("password", ""))
    if who is None:
        throttle.failed(address)
        record(f"console sign-in refused from {address}")
        return _login_page("That is not the admin password or an admin token.", 401)
    session.clear()
    session.permanent = True
    session.update(who=who, at=time.time(), gen="token" if who.startswith("token:") else
                   _password().generation(), csrf=secrets.token_urlsafe(32))
    record(f"console sign-in by {who} from {address}")
    return Response("", 303, {"Location": "/"})


def _credential_owner(secret: str) -> str | None:
    if looks_like_token(secret.strip()):
        label = seedbed().store.admin_token_label(token_hash(secret.strip()))
        if label is not None:
            return f"token:{label}"
    if secret and _password().check(secret):
        return "admin"
    return None


@bp.post("/logout")
def logout() -> Response:
    who = signed_in()
    session.clear()
    if who:
        record(f"console sign-out by {who}")
    return Response("", 303, {"Location": "/console/login"})
