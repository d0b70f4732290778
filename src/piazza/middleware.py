"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request on hot paths)."""

from __future__ import annotations

import contextvars
import logging
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record, so one request's lines can be found together."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RequestIdMiddleware:
    """Gives each request a random id, sent back as `X-Request-ID` and written in its log lines.

    Being the outermost of Piazza's middleware, it also marks every answer `X-Content-Type-Options:
    nosniff`, the error answers of the other middleware (413, 414, 429, ...) included: a browser must
    never read an uploaded image or an echoed error text as HTML or script.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
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
