"""BoundedHttpToolsProtocol on a socket bound as `piazza serve` binds it with several workers."""

import asyncio
import socket

from uvicorn.config import Config
from uvicorn.server import ServerState

from piazza.http_protocol import BoundedHttpToolsProtocol


async def _nodelay_of_accepted_connection() -> int:
    # uvicorn's own bind for several workers: socket.socket(AF_INET, SOCK_STREAM), proto 0.
    config = Config(app=None, host="127.0.0.1", port=0, http=BoundedHttpToolsProtocol)
    listener = config.bind_socket()
    accepted: list[asyncio.Transport] = []
    made = asyncio.Event()

    class Recording(BoundedHttpToolsProtocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            super().connection_made(transport)
            accepted.append(transport)
            made.set()

    server = await asyncio.get_running_loop().create_server(
        lambda: Recording(config=config, server_state=ServerState(), app_state={}), sock=listener
    )
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        await asyncio.wait_for(made.wait(), 10)
        nodelay = accepted[0].get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return nodelay
    finally:
        server.close()


def test_connections_have_nagles_algorithm_off():
    assert asyncio.run(_nodelay_of_accepted_connection()) != 0
