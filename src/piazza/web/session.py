"""Login sessions and CSRF tokens for the pages.

The session is Starlette's signed cookie (key: PIAZZA_SECRET_KEY). It holds only the user id, a password
fingerprint and the CSRF token, never an OAuth token, so every node with the same key serves the same people.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import Scope

SESSION_COOKIE = "piazza_session"


def session_user_id(request: Request) -> int | None:
    value = request.session.get("user_id")
    return value if isinstance(value, int) else None


def session_user_of_scope(scope: Scope) -> str | None:
    """The user id a request's session names, for the rate limits (which run inside SessionMiddleware,
    before any Request exists). The pages refuse a session whose login ended rather than treating it as
    a visitor's, so this is who the request really is."""
    value = scope.get("session", {}).get("user_id")
    return str(value) if isinstance(value, int) else None


def session_fingerprint(request: Request) -> str | None:
    value = request.session.get("login")
    return value if isinstance(value, str) else None


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_hex(20)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, presented: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def log_in(request: Request, user_id: int, fingerprint: str) -> None:
    # A new session and a new CSRF token at login: nothing from before survives (session fixation).
    # `login` ties the session to the current password (oauth.service.login_fingerprint).
    request.session.clear()
    request.session["user_id"] = user_id
    request.session["login"] = fingerprint
    csrf_token(request)


def safe_next(value: str | None) -> str:
    """A local path to go back to after login; anything else (`//evil`, `/\\evil`, absolute URLs,
    control characters) becomes `/`, so the login page is no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value
