"""uvicorn's httptools protocol with a bound on what it buffers of an unfinished request head.

httptools (llhttp) parses HTTP/1.1 in C, about twice as fast as h11 for Piazza's small answers, but it
keeps any amount of an unfinished head: a client could send header bytes forever and fill the worker's
memory. This protocol counts the bytes of a head that is still incomplete after each socket read and
answers 431 and closes once they pass the limit, as h11 does with `max_incomplete_event_size` (uvicorn's
`h11_max_incomplete_event_size` setting, reused here for the same meaning). A head that arrives whole
in one read (asyncio reads at most 256 KiB at a time) is parsed anyway; the app's own header cap
(piazza.limits.requests, 431) checks those.

It also turns off Nagle's algorithm on each connection (see `connection_made`).

`piazza serve` passes it to uvicorn as `http="piazza.http_protocol:BoundedHttpToolsProtocol"`.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TOO_LARGE = b"Request Header Fields Too Large"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
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

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Only a head still unfinished after this read is counted: a read that ends the head may carry
        # body bytes too, and those are the body limits' business.
        if self._in_head and self.parser is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self._head_limit:
                self._refuse_head()

    def _refuse_head(self) -> None:
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"content-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(HEAD_TOO_LARGE), HEAD_TOO_LARGE)
        )
        self.transport.close()
