"""Attacks on `piazza serve`'s connections (issue 15, items 1 and 3), over raw sockets against a real server.

One worker, so every connection of a test meets the same event loop and the same connection budget.
Timeouts here are guards against hangs, never measurements of speed.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.limits.test_json_depth import hostile_bodies
from tests.servers import PiazzaProcess

# Each test starts `piazza serve` and waits out real deadlines: `make test-slow`.
pytestmark = pytest.mark.slow

SOCKET_TIMEOUT = 20
MiB = 1024 * 1024
ATTACKER = "127.0.0.1"
BYSTANDER = "127.0.0.2"  # loopback answers on all of 127.0.0.0/8
CAP = 8  # connections per address in the `capped` server


def start(tmp_path: Path, **env: str) -> PiazzaProcess:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'piazza.sqlite3'}"
    return PiazzaProcess(url, data_dir, PIAZZA_WORKERS="1", **env).start()


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PiazzaProcess]:
    server = start(
        tmp_path_factory.mktemp("capped"),
        PIAZZA_MAX_CONNECTIONS_PER_ADDRESS=str(CAP),
        PIAZZA_HEADER_TIMEOUT="120",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deadlines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PiazzaProcess]:
    server = start(
        tmp_path_factory.mktemp("deadlines"),
        PIAZZA_HEADER_TIMEOUT="1",
        PIAZZA_BODY_TIMEOUT="1",
        PIAZZA_BODY_DEADLINE="2",
    )
    yield server
    server.stop()


def connect(server: PiazzaProcess, source: str = BYSTANDER) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(SOCKET_TIMEOUT)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a close with request bytes unread arrives as a reset)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = int(next(line for line in lines if line.startswith(b"content-length:"))[15:])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def ping(server: PiazzaProcess, source: str = BYSTANDER) -> bytes:
    with connect(server, source) as sock:
        sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nConnection: close\r\n\r\n")
        return read_all(sock)


@contextlib.contextmanager
def half_sent_heads(server: PiazzaProcess, sources: list[str]) -> Iterator[list[socket.socket]]:
    """One connection per entry of `sources`, each having sent the start of a request head."""
    sockets: list[socket.socket] = []
    try:
        for source in sources:
            sock = connect(server, source)
            sockets.append(sock)
            with contextlib.suppress(OSError):  # refused ones may be closed already
                sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: pia")
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_a_thousand_half_sent_heads_from_one_address_do_not_stop_another_client(capped):
    with half_sent_heads(capped, [ATTACKER] * 1000) as attack:
        for _ in range(3):
            assert ping(capped).startswith(b"HTTP/1.1 200")
        # Beyond the cap, the attacker's connections were answered 429 and closed.
        refused = 0
        for sock in attack[CAP:]:
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                refused += read_all(sock).startswith(b"HTTP/1.1 429")
        assert refused > 900


def test_half_sent_heads_spread_over_many_addresses_do_not_fill_the_budget(capped):
    # 1,024 waiting connections, each address under its cap: more than the worker's budget of 1,000.
    sources = [f"127.0.0.{3 + n // CAP}" for n in range(128 * CAP)]
    with half_sent_heads(capped, sources):
        for _ in range(3):
            assert ping(capped).startswith(b"HTTP/1.1 200")


def test_the_per_address_cap_refuses_one_address_and_serves_another(capped):
    source = "127.0.1.1"
    with half_sent_heads(capped, [source] * CAP):
        with connect(capped, source) as extra:
            response = read_all(extra)
        assert response.startswith(b"HTTP/1.1 429")
        assert b"connection: close" in response
        assert ping(capped, "127.0.1.2").startswith(b"HTTP/1.1 200")
    # Closed connections no longer count (the server sees the closes a moment later).
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while not (answer := ping(capped, source)).startswith(b"HTTP/1.1 200") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_head_never_finished_is_answered_408_and_closed(deadlines):
    for partial in (b"", b"GET /api/ping HTTP/1.1\r\nHost: pia"):
        with connect(deadlines) as sock:
            sock.sendall(partial)
            response = read_all(sock)  # within the socket timeout, or this raises
        assert response.startswith(b"HTTP/1.1 408")


def test_a_slow_head_is_closed_even_if_it_keeps_sending(deadlines):
    with connect(deadlines) as sock:
        sock.sendall(b"GET /api/ping HTTP/1.1\r\n")
        response = b""
        for n in range(200):  # a header line every 0.1 s: never idle, never done
            if select.select([sock], [], [], 0.1)[0]:
                response = read_all(sock)
                break
            with contextlib.suppress(OSError):
                sock.sendall(b"X-%d: a\r\n" % n)
    assert response.startswith(b"HTTP/1.1 408")


def test_a_body_trickled_within_the_gap_timeout_ends_at_the_total_deadline(deadlines):
    with connect(deadlines) as sock:
        sock.sendall(
            b"POST /api/client HTTP/1.1\r\nHost: piazza\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        response = b""
        for _ in range(100):  # a byte every 0.1 s, well inside the 1 s gap timeout: 10 s at most
            if select.select([sock], [], [], 0.1)[0]:
                response = read_all(sock)
                break
            with contextlib.suppress(OSError):
                sock.sendall(b" ")
    assert response.startswith(b"HTTP/1.1 408")
    assert response.endswith(b"Request Timeout (the request body did not arrive in time)")


def test_a_body_trickled_after_the_answer_is_cut_off_too(deadlines):
    # /api/ping answers without reading the body; the connection must not stay open for its rest.
    with connect(deadlines) as sock:
        sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nContent-Length: 100000\r\n\r\n")
        closed = False
        for _ in range(100):
            readable = select.select([sock], [], [], 0.1)[0]
            if readable:
                try:
                    if not sock.recv(65536):
                        closed = True
                        break
                except ConnectionResetError:
                    closed = True
                    break
            with contextlib.suppress(OSError):
                sock.sendall(b" ")
    assert closed


def test_a_normal_keep_alive_connection_is_not_cut(deadlines):
    # Requests well apart on one connection: each head and body has its own deadline.
    with connect(deadlines) as sock:
        for _ in range(3):
            sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(0.6)


@pytest.mark.parametrize("name", list(hostile_bodies(64)))
def test_hostile_json_bodies_are_answered_while_the_server_keeps_answering(capped, name):
    body = hostile_bodies(MiB)[name]
    with connect(capped) as attack:
        attack.sendall(
            b"POST /api/client HTTP/1.1\r\nHost: piazza\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        )
        # The worker keeps answering others meanwhile (before the fix the first body froze it for hours).
        for _ in range(3):
            assert ping(capped).startswith(b"HTTP/1.1 200")
        response = read_all(attack)
    status = response.split(b" ", 2)[1]
    if name in ("deep-nesting", "deep-nesting-never-closed", "unbalanced-pairs"):
        assert status == b"400"
        assert b"nested deeper than 32 levels" in response
    else:
        assert status in (b"400", b"422")  # not JSON, or not the JSON the route takes
