"""`piazza serve` itself, over raw sockets: oversize headers and stalled clients are uvicorn's to handle."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

# A guard against hangs, not a timing assertion: every answer below comes at once or never.
SOCKET_TIMEOUT = 15


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = free_port()
    data_dir = tmp_path_factory.mktemp("serve")
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIAZZA_")}
    env.update(
        PIAZZA_DATA_DIR=str(data_dir),
        PIAZZA_PORT=str(port),
        PIAZZA_SECRET_KEY=secrets.token_hex(32),
        PIAZZA_LOG_LEVEL="WARNING",
        PIAZZA_MAX_BODY_SIZE="4096",
        PIAZZA_BODY_TIMEOUT="1",
    )
    piazza = Path(sys.executable).parent / "piazza"
    process = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
        [str(piazza), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"piazza serve did not start: {process.stderr.read()!r}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(SOCKET_TIMEOUT)
    return sock


def read_all(sock):
    """Everything the server sends until it closes the connection (a reset closes it too: a server that
    closes with request bytes still unread makes the kernel send RST)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def get_ping(port):
    with connect(port) as sock:
        sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nConnection: close\r\n\r\n")
        return read_all(sock)


def test_serve_answers_a_plain_request(served):
    response = get_ping(served)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"OK")


def test_an_oversize_header_gets_a_4xx_or_a_closed_connection(served):
    with connect(served) as sock:
        big = b"X-Padding: " + b"a" * (64 * 1024) + b"\r\n"
        try:
            sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\n" + big + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            response = b""  # closed on us mid-send
        else:
            response = read_all(sock)
    assert response == b"" or response.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
    # The same header within the limit is fine.
    with connect(served) as sock:
        sock.sendall(
            b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nConnection: close\r\n" + big[:8000] + b"\r\n\r\n"
        )
        assert read_all(sock).startswith(b"HTTP/1.1 200")


def test_a_client_that_stalls_mid_request_does_not_block_others(served):
    with connect(served) as stalled_headers, connect(served) as stalled_body:
        stalled_headers.sendall(b"GET /api/ping HTTP/1.1\r\nHost: pia")
        stalled_body.sendall(b"POST /api/ping HTTP/1.1\r\nHost: piazza\r\nContent-Length: 100\r\n\r\nabc")
        for _ in range(3):
            assert get_ping(served).startswith(b"HTTP/1.1 200")


def test_an_oversize_declared_body_is_refused_without_reading_it(served):
    with connect(served) as sock:
        sock.sendall(b"POST /api/ping HTTP/1.1\r\nHost: piazza\r\nContent-Length: 999999999\r\n\r\n")
        response = read_all(sock)  # the server answers and closes, without waiting for the body
    assert response.startswith(b"HTTP/1.1 413")
    assert response.endswith(b"Request body too large (the limit is 4096 bytes)")


def test_a_request_head_too_big_for_one_read_is_cut_off_by_the_server(served):
    with connect(served) as sock:
        try:
            sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nX-Padding: " + b"a" * (2 * 1024 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            response = b""
        else:
            response = read_all(sock)  # no end of headers was sent: only the protocol's own limit answers
    assert response == b"" or response.startswith(b"HTTP/1.1 431")


def test_a_body_that_stops_arriving_gets_a_408(served):
    with connect(served) as sock:
        sock.sendall(
            b"POST /api/ping HTTP/1.1\r\nHost: piazza\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"title": '
        )
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 408")


def test_a_head_within_the_limit_may_arrive_in_many_small_reads(served):
    with connect(served) as sock:
        sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nConnection: close\r\n")
        for n in range(120):  # 12 KB of headers under the 16 KiB limit, one line per send
            sock.sendall(b"X-Line-%d: " % n + b"a" * 90 + b"\r\n")
            time.sleep(0.001)
        sock.sendall(b"\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200")


def test_keep_alive_serves_several_requests_on_one_connection(served):
    with connect(served) as sock:
        request = b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\n\r\n"
        sock.sendall(request * 3 + b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nConnection: close\r\n\r\n")
        assert read_all(sock).count(b"HTTP/1.1 200") == 4
