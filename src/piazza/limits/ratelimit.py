"""Rate limiting as pure ASGI middleware, driven by the table in `rules.py`.

Counters that count every request are incremented before the app runs, atomically in shared storage,
so concurrent requests (on one node or many) can never pass such a limit together. Rules that count
only failures read their counter before the app runs and add to it once the answer shows a failure:
requests that succeed never hold a count, so an app or a proxy may have any number in flight, and a
burst of failures can pass the limit only by the number of them running at that moment.

A refused request answers 429 with `Retry-After` and Gancio's draft-6 headers (`RateLimit-Policy`,
`-Limit`, `-Remaining`, `-Reset`; gancio-api.md §0.7). Gancio's body is the text below; OAuth endpoints
answer JSON instead, since their clients parse errors as JSON (RFC 6749 §5.2 has no error code for this,
so `error` is `too_many_requests`, after the HTTP status).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from piazza.limits.clientip import IPNetwork, client_address
from piazza.limits.rules import RULES, Callers, Counts, KeyBy, Rule
from piazza.limits.storage import CounterStorage

log = logging.getLogger("piazza.limits")

TOO_MANY_REQUESTS = "Too many requests, please try again later."
# Enough of an error body to find `invalid_grant` in it.
FAILURE_BODY_PEEK = 1024
# A form bigger than this is not searched for a user name (the address rules still apply).
FORM_PEEK_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Count:
    rule: Rule
    key: str
    window_start: int
    value: int

    def reset_after(self, now: float) -> int:
        return max(1, int(self.window_start + self.rule.window - now + 0.999))

    @property
    def is_over(self) -> bool:
        return self.value > self.rule.limit


def counter_key(secret: bytes, rule: Rule, value: str) -> str:
    """The counter's name: the rule and a keyed digest of the address, token or user name, so the
    table never holds them in clear (an unkeyed digest of an IPv4 address is easy to reverse)."""
    mac = hmac.new(secret, value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:40]
    return f"{rule.name}:{mac}"


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        storage: CounterStorage,
        secret: bytes,
        trusted_proxies: Sequence[IPNetwork] = (),
        rules: Sequence[Rule] = RULES,
    ) -> None:
        self.app = app
        self.storage = storage
        self.secret = secret
        self.trusted_proxies = tuple(trusted_proxies)
        self.rules = tuple(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_storage_on_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rules = self._matching_rules(scope, headers)
        if not rules:
            await self.app(scope, receive, send)
            return

        form: dict[str, str] = {}
        if any(rule.key_by is KeyBy.FORM_FIELD for rule in rules):
            form, receive = await _peek_form(headers, receive)

        now = time.time()
        try:
            counts = await self._count(scope, headers, form, rules, now)
        except Exception:
            # A broken counter store must not take the site down with it: let the request through.
            log.warning("rate-limit storage failed; request not limited", exc_info=True)
            await self.app(scope, receive, send)
            return

        refusals = [count for count in counts if count.is_over]
        failure_counts = [count for count in counts if count.rule.counts is Counts.FAILURES]
        if refusals:
            await self._send_too_many(scope, send, refusals, now)
            return

        every_counts = [count for count in counts if count.rule.counts is Counts.EVERY]
        status = 0
        peeked = bytearray()

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if every_counts:
                    tightest = min(every_counts, key=lambda c: c.rule.limit - c.value)
                    _set_rate_limit_headers(MutableHeaders(scope=message), tightest, now)
            elif message["type"] == "http.response.body":
                if len(peeked) < FAILURE_BODY_PEEK:
                    peeked.extend(message.get("body", b"")[: FAILURE_BODY_PEEK - len(peeked)])
                if not message.get("more_body", False):
                    # Settle the counts before the client has the whole answer, so its next attempt
                    # already sees them.
                    await self._settle(failure_counts, status, bytes(peeked))
            await send(message)

        try:
            await self.app(scope, receive, watching_send if (every_counts or failure_counts) else send)
        finally:
            await self._settle(failure_counts, status, bytes(peeked))

    def _matching_rules(self, scope: Scope, headers: dict[bytes, bytes]) -> list[Rule]:
        method, path = scope["method"], scope["path"]
        has_authorization = b"authorization" in headers
        matching = []
        for rule in self.rules:
            if rule.method != method or not rule.pattern.fullmatch(path):
                continue
            if rule.callers is Callers.ANONYMOUS and has_authorization:
                continue
            if rule.callers is Callers.AUTHENTICATED and not has_authorization:
                continue
            matching.append(rule)
        return matching

    async def _count(
        self, scope: Scope, headers: dict[bytes, bytes], form: dict[str, str], rules: list[Rule], now: float
    ) -> list[Count]:
        counts = []
        address = None
        for rule in rules:
            if rule.key_by is KeyBy.IP:
                address = address or client_address(scope, self.trusted_proxies)
                value = address
            elif rule.key_by is KeyBy.AUTHORIZATION:
                value = headers[b"authorization"].decode("latin-1")
            else:
                value = form.get(rule.form_field, "").strip().lower()
                if not value:
                    continue  # no user name: the address rule of the same route still counts
            key = counter_key(self.secret, rule, value)
            window_start = int(now) // rule.window * rule.window
            if rule.counts is Counts.FAILURES:
                # Only a read here: the failure is added once the answer shows one (`_settle`), so
                # requests that succeed never hold a count, however many run at once. `+ 1` is this
                # request, had it failed; concurrent failures may pass the limit by their number.
                total = await self.storage.get(key, window_start) + 1
            else:
                total = await self.storage.increment(key, window_start, rule.window)
            counts.append(Count(rule, key, window_start, total))
        return counts

    async def _settle(self, failure_counts: list[Count], status: int, body: bytes) -> None:
        """Count the failures of a finished request (status 0: the app sent nothing, so nothing failed)."""
        failed = [
            count
            for count in failure_counts
            if status != 0 and count.rule.is_failure is not None and count.rule.is_failure(status, body)
        ]
        failure_counts.clear()
        for count in failed:
            try:
                await self.storage.increment(count.key, count.window_start, count.rule.window)
            except Exception:
                log.warning("rate-limit storage failed while counting a failure", exc_info=True)

    async def _send_too_many(self, scope: Scope, send: Send, refusals: list[Count], now: float) -> None:
        longest = max(refusals, key=lambda count: count.reset_after(now))
        if scope["path"].startswith("/oauth/"):
            body = json.dumps({"error": "too_many_requests", "error_description": TOO_MANY_REQUESTS}).encode()
            content_type = b"application/json"
        else:
            body = TOO_MANY_REQUESTS.encode()
            content_type = b"text/plain; charset=utf-8"
        start: Message = {
            "type": "http.response.start",
            "status": 429,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
        response_headers = MutableHeaders(scope=start)
        _set_rate_limit_headers(response_headers, longest, now)
        response_headers["Retry-After"] = str(longest.reset_after(now))
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _closing_storage_on_shutdown(self, send: Send) -> Send:
        async def send_after_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.storage.close()
            await send(message)

        return send_after_closing


def _set_rate_limit_headers(headers: MutableHeaders, count: Count, now: float) -> None:
    headers["RateLimit-Policy"] = count.rule.policy
    headers["RateLimit-Limit"] = str(count.rule.limit)
    headers["RateLimit-Remaining"] = str(max(0, count.rule.limit - count.value))
    headers["RateLimit-Reset"] = str(count.reset_after(now))


async def _peek_form(headers: dict[bytes, bytes], receive: Receive) -> tuple[dict[str, str], Receive]:
    """Read a url-encoded body to find form fields, and return a `receive` that replays it to the app."""
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/x-www-form-urlencoded":
        return {}, receive
    messages: list[Message] = []
    size = 0
    more_body = True
    while more_body and size <= FORM_PEEK_LIMIT:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # the client went away; the app will see that too
        size += len(message.get("body", b""))
        more_body = message.get("more_body", False)
    form: dict[str, str] = {}
    if not more_body:
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(name, value)

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return form, replay
