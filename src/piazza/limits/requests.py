"""Request-size protection as pure ASGI middleware, in front of every route.

- Bodies: `Content-Length` is checked before the app runs, and every body (chunked ones too) is
  counted while it streams; past the cap the request answers 413. Upload routes taking
  multipart/form-data have their own, larger cap.
- multipart/form-data: the parts are counted while streaming (by their boundary lines); too many → 413.
- application/json: the body is read first (it is under the cap), and refused with 400 when it is not
  UTF-8 (RFC 8259 §8.1) or nests deeper than the cap, before any parser can recurse into it.
- A body that stops arriving for `body_timeout` seconds → 408. (Its whole time is bounded below the app,
  by `piazza serve`'s protocol: piazza.http_protocol, PIAZZA_BODY_DEADLINE.)
- Query strings longer than the cap → 414; request headers larger than the cap together → 431.

`piazza serve` bounds what uvicorn buffers of an unfinished request head (piazza.http_protocol) and
closes idle connections (cli.py), but a head that arrives in one socket read is parsed whole, so the
header cap is checked here too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from piazza.json_input import check_json_depth

MiB = 1024 * 1024

# Routes that take file uploads as multipart/form-data (gancio-api.md §0.3).
UPLOAD_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/event"),
        ("PUT", "/api/event"),
        ("POST", "/add"),  # the pages' event forms (web/event_forms.py)
        ("POST", "/event/edit"),
        ("POST", "/api/settings/logo"),
        ("POST", "/api/settings/fallbackImage"),
        ("POST", "/api/settings/headerImage"),
    }
)


@dataclass(frozen=True)
class RequestLimits:
    max_body_size: int = 1 * MiB
    max_upload_size: int = 10 * MiB
    max_multipart_parts: int = 200
    max_json_depth: int = 32
    max_query_length: int = 4096
    max_header_size: int = 16 * 1024
    # Seconds a request body may go without sending a byte before the request answers 408. uvicorn has
    # no such timeout, so a client could otherwise hold a connection (and a worker's slot) forever.
    body_timeout: float = 30.0


class _Refused(Exception):
    """Raised from `receive` once a streaming body breaks a limit; the middleware answers instead."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _media_type(headers: dict[bytes, bytes]) -> tuple[bytes, bytes]:
    """(media type, raw parameters) of the Content-Type header, the type in lower case."""
    media_type, _, params = headers.get(b"content-type", b"").partition(b";")
    return media_type.strip().lower(), params


def _multipart_boundary(params: bytes) -> bytes | None:
    for param in params.split(b";"):
        name, _, value = param.strip().partition(b"=")
        if name.strip().lower() == b"boundary" and value:
            return value.strip().strip(b'"')
    return None


def _is_json(media_type: bytes) -> bool:
    return media_type == b"application/json" or media_type.endswith(b"+json")


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, limits: RequestLimits = RequestLimits()) -> None:  # noqa: B008
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        if len(scope["query_string"]) > limits.max_query_length:
            await _answer(
                send, 414, f"URI Too Long (the query string limit is {limits.max_query_length} bytes)"
            )
            return

        header_size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # ": ", CRLF
        if header_size > limits.max_header_size:
            await _answer(
                send, 431, f"Request Header Fields Too Large (the limit is {limits.max_header_size} bytes)"
            )
            return

        headers = dict(scope["headers"])
        media_type, params = _media_type(headers)
        is_upload = media_type == b"multipart/form-data" and (scope["method"], scope["path"]) in UPLOAD_ROUTES
        cap = limits.max_upload_size if is_upload else limits.max_body_size
        too_large = f"Request body too large (the limit is {cap} bytes)"

        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "Invalid Content-Length")
                return
            if int(declared) > cap:
                await _answer(send, 413, too_large)
                return

        if _is_json(media_type):
            try:
                body = await self._read_body(receive, cap)
            except _Refused as timed_out:
                await _answer(send, timed_out.status, timed_out.message)
                return
            if body is None:
                await _answer(send, 413, too_large)
                return
            problem = self._json_problem(body)
            if problem:
                await _answer(send, 400, problem)
                return
            receive = _replaying(body, receive)
            await self.app(scope, receive, send)
            return

        boundary = _multipart_boundary(params) if media_type == b"multipart/form-data" else None
        await self._stream(scope, receive, send, cap, too_large, boundary)

    def _json_problem(self, body: bytes) -> str | None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return "Invalid JSON body: not UTF-8"
        if not check_json_depth(body, self.limits.max_json_depth):
            return f"Invalid JSON body: nested deeper than {self.limits.max_json_depth} levels"
        return None

    async def _stream(
        self, scope: Scope, receive: Receive, send: Send, cap: int, too_large: str, boundary: bytes | None
    ) -> None:
        """Run the app, counting body bytes (and multipart parts) as it reads them."""
        received = 0
        delimiter = b"--" + boundary if boundary else b""
        delimiters_seen = 0
        tail = b""
        refusal: _Refused | None = None
        response_started = False

        body_complete = False

        async def counting_receive() -> Message:
            nonlocal received, delimiters_seen, tail, refusal, body_complete
            if body_complete:
                return await receive()  # waiting for a disconnect, not for the body
            try:
                message = await self._receive_in_time(receive)
            except _Refused as timed_out:
                refusal = timed_out
                raise
            if message["type"] != "http.request":
                return message
            body_complete = not message.get("more_body", False)
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > cap:
                refusal = _Refused(413, too_large)
                raise refusal
            if delimiter:
                # A delimiter may straddle two chunks: search the end of the last one too.
                window = tail + chunk
                delimiters_seen += window.count(delimiter)
                tail = window[-(len(delimiter) - 1) :]
                # n parts are framed by n + 1 delimiter lines (RFC 7578 §4.1, RFC 2046 §5.1.1).
                if delimiters_seen > self.limits.max_multipart_parts + 1:
                    refusal = _Refused(
                        413, f"Too many parts (the limit is {self.limits.max_multipart_parts})"
                    )
                    raise refusal
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refusal is not None and not response_started:
                return  # the app's reaction to the refusal (often a 400 or 500) is replaced below
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _Refused:
            pass
        except Exception:
            if refusal is None:
                raise
        if refusal is not None and not response_started:
            await _answer(send, refusal.status, refusal.message)

    async def _receive_in_time(self, receive: Receive) -> Message:
        try:
            return await asyncio.wait_for(receive(), self.limits.body_timeout)
        except TimeoutError:
            raise _Refused(408, "Request Timeout (the body stopped arriving)") from None

    async def _read_body(self, receive: Receive, cap: int) -> bytes | None:
        """The whole body, or None as soon as it passes `cap` bytes."""
        chunks = []
        size = 0
        while True:
            message = await self._receive_in_time(receive)
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, message: str) -> None:
    body = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body was not read; closing is the only safe way to end the exchange.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
