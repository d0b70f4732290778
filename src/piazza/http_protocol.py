"""uvicorn's httptools protocol with the connection-level limits uvicorn lacks.

httptools (llhttp) parses HTTP/1.1 in C, about twice as fast as h11 for Piazza's small answers. Around
it, this protocol bounds what one client can hold:

- Head size. httptools keeps any amount of an unfinished head: a client could send header bytes forever
  and fill the worker's memory. The bytes of a head still incomplete after each socket read are counted,
  and past the limit the protocol answers 431 and closes, as h11 does with `max_incomplete_event_size`
  (uvicorn's `h11_max_incomplete_event_size` setting, reused here for the same meaning). A head that
  arrives whole in one read (asyncio reads at most 256 KiB at a time) is parsed anyway; the app's own
  header cap (piazza.limits.requests, 431) checks those.
- Head time (`PIAZZA_HEADER_TIMEOUT`). uvicorn has no timeout between accepting a connection (or the
  first byte of a later request on it) and the end of the head, so a client that sends half a head and
  waits held its connection forever. Past the deadline the protocol answers 408 and closes.
- Body time (`PIAZZA_BODY_DEADLINE`). The whole body must arrive within this many seconds of the end of
  its head, however steadily it trickles (the app's limits end a body that stalls, PIAZZA_BODY_TIMEOUT,
  only while the app reads it). Past the deadline: 408 when nothing was answered yet, and the connection
  is closed; the app sees the client disconnect.
- Connections per address (`PIAZZA_MAX_CONNECTIONS_PER_ADDRESS`). Each worker counts its open connections
  per peer address (IPv6 per /64); one more answers 429 and is closed at once. The peer is the TCP peer:
  behind a reverse proxy every client shares the proxy's address, and the proxy must do this itself.
- The worker's connection budget. uvicorn answers 503 to every new request once a worker has
  `limit_concurrency` connections open, counting connections that only wait for a head: a thousand
  half-sent heads locked everyone out. When a new connection brings the worker to that budget, the
  connection that has waited longest for a head (half-sent, or idle between keep-alive requests) is
  closed to make room, so only requests being served can fill the budget.

It also turns off Nagle's algorithm on each connection (see `connection_made`).

`piazza serve` passes it to uvicorn as `http="piazza.http_protocol:BoundedHttpToolsProtocol"`.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import weakref
from collections import Counter
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from piazza.config import Config

HEAD_TOO_LARGE = b"Request Header Fields Too Large"
HEAD_TIMEOUT = b"Request Timeout (the request head did not arrive in time)"
BODY_TIMEOUT = b"Request Timeout (the request body did not arrive in time)"
TOO_MANY_CONNECTIONS = b"Too many open connections from your address"
IPV6_PREFIX = 64  # as the rate limits count IPv6 clients (piazza.limits.clientip)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_deadline: float
    max_connections_per_address: int


@functools.cache
def connection_limits() -> ConnectionLimits:
    """Read once per worker from the same settings (environment, PIAZZA_CONFIG) the CLI validated."""
    config = Config(**{})  # every value from the environment (the ** keeps mypy from asking for each)
    return ConnectionLimits(
        header_timeout=config.header_timeout,
        body_deadline=config.body_deadline,
        max_connections_per_address=config.max_connections_per_address,
    )


class _WorkerConnections:
    """What the connections of one worker (one uvicorn server) share."""

    def __init__(self) -> None:
        self.per_address: Counter[str] = Counter()
        # Connections waiting for a request head, oldest first (a dict keeps insertion order).
        self.waiting: dict[BoundedHttpToolsProtocol, None] = {}


# One uvicorn server runs in each worker process; tests may run several in one process.
_workers: weakref.WeakKeyDictionary[ServerState, _WorkerConnections] = weakref.WeakKeyDictionary()


def _worker_connections(server_state: ServerState) -> _WorkerConnections:
    shared = _workers.get(server_state)
    if shared is None:
        shared = _workers[server_state] = _WorkerConnections()
    return shared


def address_key(host: str) -> str:
    """The address a connection counts against: the IP, IPv6 widened to its /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _address: str | None = None
    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # With several workers uvicorn binds the socket itself, without naming IPPROTO_TCP, and asyncio
        # disables Nagle's algorithm only on sockets that name it. Each answer is two writes (head, then
        # body), so the body waited for the client's delayed ACK of the head: 40 ms for every request.
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._head_limit = self.config.h11_max_incomplete_event_size or 16 * 1024
        self._in_head = True
        self._head_bytes = 0
        self._limits = connection_limits()
        self._shared = _worker_connections(self.server_state)

        address = address_key(self.client[0]) if self.client else "unknown"
        if self._shared.per_address[address] >= self._limits.max_connections_per_address:
            self._answer_and_close(429, TOO_MANY_CONNECTIONS, b"retry-after: 10\r\n")
            return
        self._address = address
        self._shared.per_address[address] += 1
        self._make_room()
        self._shared.waiting[self] = None
        self._head_timer = self.loop.call_later(self._limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._shared.waiting.pop(self, None)
        if self._address is not None:
            self._shared.per_address[self._address] -= 1
            if not self._shared.per_address[self._address]:
                del self._shared.per_address[self._address]
            self._address = None
        super().connection_lost(exc)

    def _make_room(self) -> None:
        """Close the connections that waited longest for a head while this worker is at its budget."""
        budget = self.limit_concurrency
        while budget is not None and len(self.connections) >= budget and self._shared.waiting:
            oldest = next(iter(self._shared.waiting))
            del self._shared.waiting[oldest]
            # Out of the count now: uvicorn only forgets it in connection_lost, an event-loop turn later.
            self.connections.discard(oldest)
            oldest.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        if self._head_timer is None:  # a later request on a kept-alive connection: its head starts now
            self._head_timer = self.loop.call_later(self._limits.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._shared.waiting.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_timer = self.loop.call_later(self._limits.body_deadline, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline and self._body_timer is None:
            self._shared.waiting[self] = None  # idle until the next request's head

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Only a head still unfinished after this read is counted: a read that ends the head may carry
        # body bytes too, and those are the body limits' business.
        if self._in_head and self.parser is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self._head_limit:
                self._answer_and_close(431, HEAD_TOO_LARGE)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self._answer_and_close(408, HEAD_TIMEOUT)
        else:  # a pipelined head behind an answer still being sent: nothing can be said in between
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if cycle is None or self.transport.is_closing():
            return
        answered = cycle.response_started
        # The app now reads a disconnect and its answer is dropped (uvicorn's cycle checks this flag).
        cycle.disconnected = True
        cycle.message_event.set()
        if answered:
            self.transport.close()
        else:
            self._answer_and_close(408, BODY_TIMEOUT)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _answer_and_close(self, status: int, message: bytes, extra_headers: bytes = b"") -> None:
        reason = {408: b"Request Timeout", 429: b"Too Many Requests", 431: b"Request Header Fields Too Large"}
        self.transport.write(
            b"HTTP/1.1 %d %s\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"content-length: %d\r\n"
            b"%s"
            b"connection: close\r\n\r\n%s" % (status, reason[status], len(message), extra_headers, message)
        )
        self.transport.close()
