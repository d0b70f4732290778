"""`X-Content-Type-Options: nosniff` on media and on every error answer (issue 15).

Without it a browser may sniff an uploaded file or an error text that echoes input and run it as HTML.
The error answers come from several places: the domain error handler (plain text), the bearer check
(JSON), Starlette's routing (404, 405), the request-limit middleware (413, 414), the rate limiter
(429) and the handler of unexpected errors (500), which Starlette runs outside every middleware.
"""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from piazza.app import create_app
from piazza.http_protocol import HEAD_TOO_LARGE, BoundedHttpToolsProtocol
from tests.conftest import empty_database, wait_for_a_fresh_window
from tests.events.test_images import event_fields
from tests.factories import bearer, make_token, make_user


def nosniff(response) -> bool:
    return response.headers.get("x-content-type-options") == "nosniff"


def test_media_files_and_thumbnails_are_nosniff(client, db):
    image = io.BytesIO()
    Image.new("RGB", (700, 300), (1, 2, 3)).save(image, "PNG")
    response = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("p.png", image.getvalue(), "image/png")},
        headers=bearer(make_token(db, make_user(db))),
    )
    name = response.json()["media"][0]["url"]
    for path in (f"/media/{name}", f"/media/thumb/{name}", "/logo.png"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert nosniff(answer), path
    missing = client.get(f"/media/{'0' * 32}.jpg", follow_redirects=False)
    assert missing.status_code == 302 and nosniff(missing)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/no-such-route", {}, 404),  # Starlette's routing, text/plain
        ("DELETE", "/api/ping", {}, 405),
        ("GET", "/api/event/detail/999999", {}, 404),  # a domain error, text/plain
        (
            "POST",
            "/api/event",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("GET", "/api/user", {"headers": {"Authorization": "Bearer " + "0" * 40}}, 401),  # JSON, RFC 6750
        (
            "POST",
            "/api/event",
            {"content": b"x" * (2 * 1024 * 1024), "headers": {"content-type": "text/plain"}},
            413,
        ),
        ("GET", "/api/events?q=" + "x" * 5000, {}, 414),  # the request-limit middleware
    ],
)
def test_error_answers_are_nosniff(client, method, path, kwargs, status):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert nosniff(response)


def test_a_rate_limited_answer_is_nosniff(make_config):
    app = create_app(make_config(rate_limits=True))
    wait_for_a_fresh_window()
    try:
        with TestClient(app) as client:
            answers = [client.post("/api/client", json={"client_name": ""}) for _ in range(8)]
        assert answers[-1].status_code == 429
        assert all(nosniff(answer) for answer in answers)
    finally:
        empty_database(app.state.db)
        app.state.db.dispose()


def test_an_unexpected_error_is_nosniff(make_config):
    app = create_app(make_config())

    @app.get("/api/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/api/broken")
        assert response.status_code == 500
        assert nosniff(response)
    finally:
        app.state.db.dispose()


class RecordingTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def test_the_431_the_protocol_writes_itself_is_nosniff():
    # tests/limits/test_serve.py drives this answer over a socket; here its bytes are read exactly.
    protocol = BoundedHttpToolsProtocol.__new__(BoundedHttpToolsProtocol)
    protocol.transport = RecordingTransport()  # type: ignore[assignment]
    protocol._answer_and_close(431, HEAD_TOO_LARGE)
    head = protocol.transport.written.split(b"\r\n\r\n")[0].lower()  # type: ignore[attr-defined]
    assert head.startswith(b"http/1.1 431")
    assert b"\r\nx-content-type-options: nosniff" in head
