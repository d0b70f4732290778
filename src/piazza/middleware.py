"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request on hot paths)."""

from __future__ import annotations

import contextvars
import logging
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("piazza.access")
# Path parameters that carry a secret (the codes of recovery and invitation links): where a route has
# one, the access log shows the route's template (`/recover/{code}`) instead of the path.
SECRET_PATH_PARAMS = frozenset({"code", "token", "secret"})


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record, so one request's lines can be found together."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RequestIdMiddleware:
    """Gives each request a random id, sent back as `X-Request-ID` and written in its log lines; with
    `access_log`, writes one line per request to the `piazza.access` logger at INFO:
    `127.0.0.1 "GET /api/events" 200 1.2ms` (the request id is in the line's format).

    The line never holds a query string (OAuth state, PKCE challenges, tokens some clients put there),
    a secret path parameter (SECRET_PATH_PARAMS), a header, a cookie or a body.

    Being the outermost of Piazza's middleware, it also marks every answer `X-Content-Type-Options:
    nosniff`, the error answers of the other middleware (413, 414, 429, ...) included: a browser must
    never read an uploaded image or an echoed error text as HTML or script.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        logged = self.access_log and access_log.isEnabledFor(logging.INFO)
        started = time.perf_counter() if logged else 0.0
        status = 500  # what the server answers when the app raises before it starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if logged:
                access_log.info(
                    '%s "%s %s" %d %.1fms',
                    _client_of(scope),
                    scope["method"],
                    _logged_path(scope),
                    status,
                    (time.perf_counter() - started) * 1000,
                    extra={"request_id": request_id},
                )
            request_id_var.reset(token)


class PrivateAnswersMiddleware:
    """`Cache-Control: no-store` on every answer to a request that carries credentials (an
    `Authorization` header or the login session cookie), so no shared cache or proxy keeps what was
    meant for one person (an event detail shows hidden events to moderators, `/api/user` the account).

    A route that set its own `Cache-Control` keeps it: those (media, static files, instance images)
    serve the same bytes to everyone. Anonymous answers, public feeds among them, stay cacheable.
    """

    def __init__(self, app: ASGIApp, *, session_cookie: str) -> None:
        self.app = app
        self.cookie_prefix = f"{session_cookie}=".encode()

    def _has_credentials(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                return True
            if name == b"cookie" and any(
                part.strip().startswith(self.cookie_prefix) for part in value.split(b";")
            ):
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._has_credentials(scope):
            await self.app(scope, receive, send)
            return

        async def send_not_stored(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_not_stored)


def _client_of(scope: Scope) -> str:
    """The peer's address (the proxy's, behind one)."""
    client = scope.get("client")
    return str(client[0]) if client else "-"


def _logged_path(scope: Scope) -> str:
    """The path as the client sent it, without the query string; a route's template where the path
    holds a secret. Characters that could forge log lines are escaped."""
    route = scope.get("route")
    if route is not None and not SECRET_PATH_PARAMS.isdisjoint(scope.get("path_params", ())):
        return str(getattr(route, "path", "-"))
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else str(scope["path"])
    if not path.isprintable() or " " in path or '"' in path:
        path = path.encode("unicode_escape").decode("ascii").replace(" ", "\\x20").replace('"', "\\x22")
    return path
