import asyncio
import socket

from piazza.event_loop import ACCEPTS_PER_WAKEUP, ServingEventLoop


class Counting(asyncio.Protocol):
    transports: list[asyncio.Transport] = []

    def connection_made(self, transport):
        Counting.transports.append(transport)


def test_one_wakeup_accepts_only_a_few_of_the_waiting_connections():
    """What the loop registers for the listening socket takes ACCEPTS_PER_WAKEUP connections per call and
    leaves the rest queued, for the other workers woken by the same arrivals."""
    loop = ServingEventLoop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(ACCEPTS_PER_WAKEUP + 6)]
    try:
        # A server that is not serving, so that the pause does not end in more accepts.
        server = loop.run_until_complete(loop.create_server(Counting, sock=listener, start_serving=False))
        loop._accept_connection(Counting, listener, None, server, 2048)  # as asyncio calls it: backlog 2048
        loop.run_until_complete(asyncio.sleep(0.1))  # the accepted connections' connection_made
        assert len(Counting.transports) == ACCEPTS_PER_WAKEUP
        left = 0
        while True:  # the others are still in the kernel's queue
            try:
                listener.accept()[0].close()
                left += 1
            except BlockingIOError:
                break
        assert left == 6
    finally:
        for transport in Counting.transports:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        for client in clients:
            client.close()
        listener.close()
        loop.close()


def test_a_server_on_the_loop_answers():
    async def main():
        async def echo(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"ping\n")
        answer = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        return answer

    with asyncio.Runner(loop_factory=ServingEventLoop) as runner:
        assert runner.run(main()) == b"ping\n"


def test_a_burst_is_taken_in_pauses_and_all_of_it_accepted():
    made = []

    class Recording(asyncio.Protocol):
        def connection_made(self, transport):
            made.append(transport)

    async def main():
        listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        clients = [
            socket.create_connection(listener.getsockname()) for _ in range(3 * ACCEPTS_PER_WAKEUP + 1)
        ]
        server = await asyncio.get_running_loop().create_server(Recording, sock=listener)
        try:
            for _ in range(500):
                if len(made) == len(clients):
                    break
                await asyncio.sleep(0.01)
        finally:
            for transport in made:
                transport.close()
            for client in clients:
                client.close()
            server.close()
            await server.wait_closed()
        return len(clients)

    with asyncio.Runner(loop_factory=ServingEventLoop) as runner:
        assert runner.run(main()) == len(made)
