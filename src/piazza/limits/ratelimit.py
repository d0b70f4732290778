"""Rate limiting as pure ASGI middleware, driven by the table in `rules.py`.

Before the app runs, each matching rule takes its count in shared storage, in one atomic step that
counts the request only if it fits the limit (storage.py), so concurrent requests (on one node or many)
can never pass a limit together. Rules that count failures reserve their count the same way and give it
back once the answer shows no failure: a burst of parallel wrong passwords gets at most the limit
checked, and a person who logs in correctly holds no count afterwards. (Refused 160-bit tokens are the
exception, counted afterwards: `Counts.FAILURES_AFTERWARDS`.)

Which rules apply depends on what the request really is on its route (`rules.Callers`): on the API a
caller is known by an `Authorization: Bearer` token and nothing else (any other scheme is anonymous
here, and refused by the API), on the pages by their session.

A refused request answers 429 with `Retry-After` and Gancio's draft-6 headers (`RateLimit-Policy`,
`-Limit`, `-Remaining`, `-Reset`; gancio-api.md §0.7). Gancio's body is the text below; OAuth endpoints
answer JSON instead, since their clients parse errors as JSON (RFC 6749 §5.2 has no error code for this,
so `error` is `too_many_requests`, after the HTTP status). When no counter store answers at all, a
limited request answers 503: a limit never switches itself off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.formparsers import FormParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from piazza.limits.clientip import IPNetwork, client_address
from piazza.limits.rules import RULES, Callers, Counts, KeyBy, Rule
from piazza.limits.storage import CounterStorage, Hit, estimate, window_start

log = logging.getLogger("piazza.limits")

TOO_MANY_REQUESTS = "Too many requests, please try again later."
UNAVAILABLE = "Service Unavailable (the rate-limit counters do not answer)"
# Enough of an error body to find `invalid_grant` in it.
FAILURE_BODY_PEEK = 1024
# Login forms are read whole by the limiter, to find the user name; one bigger than this answers 413
# (a real login form is a few hundred bytes), so padding cannot hide the user name from its limit.
FORM_READ_LIMIT = 64 * 1024
# "Add this whatever the count": a failure that already happened is always counted.
NO_LIMIT = 2**31 - 1

SessionUser = Callable[[Scope], str | None]


def _no_session_user(scope: Scope) -> str | None:
    return None


@dataclass(frozen=True)
class Count:
    rule: Rule
    key: str
    hit: Hit
    now: float

    @property
    def is_over(self) -> bool:
        if self.rule.counts is Counts.FAILURES_AFTERWARDS:  # read only: would one more failure fit?
            return estimate(self.hit, self.now, self.rule.window) + 1 > self.rule.limit
        return not self.hit.counted

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.rule.limit - estimate(self.hit, self.now, self.rule.window) + 1e-9))

    def reset_after(self) -> int:
        """Seconds until the current window ends (when its counts start to slide out)."""
        window = self.rule.window
        return max(1, math.ceil(window_start(self.now, window) + window - self.now))

    def retry_after(self) -> int:
        """Seconds until one more request fits the sliding estimate."""
        window, room = self.rule.window, self.rule.limit - 1
        elapsed = self.now - window_start(self.now, window)
        current, previous = self.hit.current, self.hit.previous
        if current > room:
            # The current window alone is too full: wait into the next one, until this window's share
            # (current x the part of it still inside the last `window` seconds) leaves room.
            wait = (window - elapsed) + window * (1 - room / current)
        elif previous:
            wait = window * (1 - (room - current) / previous) - elapsed
        else:
            wait = 1
        return max(1, math.ceil(wait))


def counter_key(secret: bytes, rule: Rule, value: str) -> str:
    """The counter's name: the rule's counter and a keyed digest of the address, token or user name, so
    the table never holds them in clear (an unkeyed digest of an IPv4 address is easy to reverse)."""
    mac = hmac.new(secret, value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:40]
    return f"{rule.counter}:{mac}"


def bearer_token(headers: dict[bytes, bytes]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, read as oauth/bearer.py reads it
    (tests/limits/test_callers.py checks that the two agree); None for no header or another scheme."""
    header = headers.get(b"authorization")
    if header is None:
        return None
    scheme, _, value = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        storage: CounterStorage,
        secret: bytes,
        trusted_proxies: Sequence[IPNetwork] = (),
        rules: Sequence[Rule] = RULES,
        session_user: SessionUser = _no_session_user,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.storage = storage
        self.secret = secret
        self.trusted_proxies = tuple(trusted_proxies)
        self.rules = tuple(rules)
        self.session_user = session_user
        self.clock = clock

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
        # Only url-encoded bodies are read: the routes read no other (oauth/api.py form_pairs), so other
        # bodies hold no user name for them.
        if any(rule.key_by is KeyBy.FORM_FIELD for rule in rules) and _is_form(headers):
            body = await _read_form_body(receive)
            if body is None:
                await _answer(send, 413, f"Request body too large (the limit is {FORM_READ_LIMIT} bytes)")
                return
            form, receive = await _parse_form(headers, body), _replaying(body, receive)

        now = self.clock()
        try:
            counts = await self._count(scope, headers, form, rules, now)
        except Exception:
            log.warning("rate-limit storage failed; request refused", exc_info=True)
            await _answer(send, 503, UNAVAILABLE, retry_after=5)
            return

        refusals = [count for count in counts if count.is_over]
        if refusals:
            # The request does not run, so what it reserved under its other rules is given back.
            await self._give_back([count for count in counts if count.hit.counted])
            await self._send_too_many(scope, send, refusals)
            return

        every_counts = [count for count in counts if count.rule.counts is Counts.EVERY]
        failure_counts = [count for count in counts if count.rule.counts is not Counts.EVERY]
        status = 0
        peeked = bytearray()

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if every_counts:
                    tightest = min(every_counts, key=lambda count: count.remaining)
                    _set_rate_limit_headers(MutableHeaders(scope=message), tightest, tightest.reset_after())
            elif message["type"] == "http.response.body":
                if len(peeked) < FAILURE_BODY_PEEK:
                    peeked.extend(message.get("body", b"")[: FAILURE_BODY_PEEK - len(peeked)])
                if not message.get("more_body", False):
                    # Settle the counts before the client has the whole answer, so its next attempt
                    # already sees them.
                    await self._settle(failure_counts, status, bytes(peeked))
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            await self._settle(failure_counts, status, bytes(peeked))

    def _matching_rules(self, scope: Scope, headers: dict[bytes, bytes]) -> list[Rule]:
        method, path = scope["method"], scope["path"]
        candidates = [rule for rule in self.rules if rule.method == method and rule.pattern.fullmatch(path)]
        if not candidates:
            return []
        has_token = bearer_token(headers) is not None
        has_session_user = any(rule.callers in (Callers.VISITOR, Callers.MEMBER) for rule in candidates) and (
            self.session_user(scope) is not None
        )
        applies = {
            Callers.ANY: True,
            Callers.ANONYMOUS: not has_token,
            Callers.TOKEN: has_token,
            Callers.VISITOR: not has_session_user,
            Callers.MEMBER: has_session_user,
        }
        return [rule for rule in candidates if applies[rule.callers]]

    def _value(self, rule: Rule, scope: Scope, headers: dict[bytes, bytes], form: dict[str, str]) -> str:
        if rule.key_by is KeyBy.IP:
            return client_address(scope, self.trusted_proxies)
        if rule.key_by is KeyBy.TOKEN:
            return bearer_token(headers) or ""
        if rule.key_by is KeyBy.SESSION_USER:
            return self.session_user(scope) or ""
        # The user name as the account stores it (accounts.service.normalise_email).
        return form.get(rule.form_field, "").strip().lower()

    async def _count(
        self, scope: Scope, headers: dict[bytes, bytes], form: dict[str, str], rules: list[Rule], now: float
    ) -> list[Count]:
        counts: list[Count] = []
        try:
            for rule in rules:
                value = self._value(rule, scope, headers, form)
                if not value:
                    continue  # no user name: the address rule of the same route still counts
                key = counter_key(self.secret, rule, value)
                # Failures counted afterwards are only read here; everything else is counted now, if
                # it fits.
                amount = 0 if rule.counts is Counts.FAILURES_AFTERWARDS else 1
                hit = await self.storage.hit(key, rule.window, now, amount, rule.limit)
                counts.append(Count(rule, key, hit, now))
        except Exception:
            await self._give_back([count for count in counts if count.hit.counted])
            raise
        return counts

    async def _give_back(self, counts: list[Count]) -> None:
        for count in counts:
            try:
                await count.hit.storage.give_back(
                    count.key, window_start(count.now, count.rule.window), count.rule.window
                )
            except Exception:
                # Keeping a reservation only makes the limit stricter for a while.
                log.warning("rate-limit storage failed while giving a count back", exc_info=True)

    async def _settle(self, failure_counts: list[Count], status: int, body: bytes) -> None:
        """Settle the failure counts of a finished request. Status 0 (the app sent no answer, or
        raised): a reserved count is kept, since the attempt may have been checked."""
        settled = list(failure_counts)
        failure_counts.clear()
        if not settled:
            return
        give_back = []
        for count in settled:
            assert count.rule.is_failure is not None  # noqa: S101  (failure rules have a test)
            failed = status == 0 or count.rule.is_failure(status, body)
            if count.rule.counts is Counts.FAILURES and not failed:
                give_back.append(count)
            elif count.rule.counts is Counts.FAILURES_AFTERWARDS and failed and status != 0:
                try:
                    await self.storage.hit(count.key, count.rule.window, self.clock(), 1, NO_LIMIT)
                except Exception:
                    log.warning("rate-limit storage failed while counting a failure", exc_info=True)
        await self._give_back(give_back)

    async def _send_too_many(self, scope: Scope, send: Send, refusals: list[Count]) -> None:
        longest = max(refusals, key=lambda count: count.retry_after())
        retry_after = longest.retry_after()
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
        _set_rate_limit_headers(response_headers, longest, retry_after)
        response_headers["RateLimit-Remaining"] = "0"
        response_headers["Retry-After"] = str(retry_after)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _closing_storage_on_shutdown(self, send: Send) -> Send:
        async def send_after_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.storage.close()
            await send(message)

        return send_after_closing


def _set_rate_limit_headers(headers: MutableHeaders, count: Count, reset: int) -> None:
    headers["RateLimit-Policy"] = count.rule.policy
    headers["RateLimit-Limit"] = str(count.rule.limit)
    headers["RateLimit-Remaining"] = str(count.remaining)
    headers["RateLimit-Reset"] = str(reset)


def _is_form(headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type == b"application/x-www-form-urlencoded"


async def _read_form_body(receive: Receive) -> bytes | None:
    """The body whole, or None once it passes FORM_READ_LIMIT."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app will see an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_READ_LIMIT:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _parse_form(headers: dict[bytes, bytes], body: bytes) -> dict[str, str]:
    """The first value of each field, parsed by the parser the route itself uses (Starlette's), so the
    limiter and the route can never read different user names out of one body."""
    if not body:
        return {}

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    parsed = await FormParser(Headers(raw=list(headers.items())), stream()).parse()
    form: dict[str, str] = {}
    for name, value in parsed.multi_items():
        if isinstance(value, str):
            form.setdefault(name, value)
    return form


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, message: str, *, retry_after: int | None = None) -> None:
    body = message.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        # The body may not have been read whole; closing is the only safe way to end the exchange.
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
