"""The event loop each `piazza serve` worker runs: asyncio's, taking new connections a few at a time.

All workers wait on the one listening socket uvicorn shares between them, and the kernel wakes every
one of them when connections arrive. asyncio's loop then accepts up to `backlog` (2048) connections in
one go, so the worker that woke first took a whole burst, 32 connections out of 32 in `bench/`, and
served them alone while the other worker idled. uvloop accepts only one per loop pass, which shares a
burst evenly but lets a busy worker take in a newcomer only after a whole round of its other requests
(the first answer came up to half a second late). Here a worker accepts a few per wake-up, and when more
are still waiting it stops listening for a millisecond, time for the other workers to wake and take
their share: bursts are shared, and newcomers wait at most a few requests' time.
"""

from __future__ import annotations

import asyncio
import select
import socket
from typing import Any

ACCEPTS_PER_WAKEUP = 4
ACCEPT_PAUSE_SECONDS = 0.001


class ServingEventLoop(asyncio.SelectorEventLoop):
    # The override of a private method: asyncio registers `_accept_connection` as the listening
    # socket's reader with `backlog` as the number of connections to accept per call.
    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
    ) -> None:
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, min(backlog, ACCEPTS_PER_WAKEUP), *args
        )
        if select.select([sock], [], [], 0)[0]:  # more connections wait: leave them to the others a while
            self._remove_reader(sock.fileno())  # type: ignore[attr-defined]  # private: not in typeshed
            self.call_later(
                ACCEPT_PAUSE_SECONDS,
                self._listen_again,
                protocol_factory,
                sock,
                sslcontext,
                server,
                backlog,
                *args,
            )

    def _listen_again(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any,
        server: Any,
        backlog: int,
        *args: Any,
    ) -> None:
        if server is not None and not server.is_serving():
            return  # closed meanwhile
        self._add_reader(  # type: ignore[attr-defined]
            sock.fileno(), self._accept_connection, protocol_factory, sock, sslcontext, server, backlog, *args
        )
