"""A login body padded past what the limiter reads is refused with 413 (issue 15, item 4): the per-user
limit needs the user name, and a body too big to read whole would hide it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from piazza.app import create_app
from piazza.limits.ratelimit import FORM_READ_LIMIT, RateLimitMiddleware
from tests.factories import make_user
from tests.limits.conftest import SECRET, limited_app, peer

PADDING = "p" * (FORM_READ_LIMIT + 1)


@pytest.fixture
def real_app(make_config, db):
    make_user(db, "target@example.org")
    app = create_app(make_config(rate_limits=True))
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/oauth/login", {"grant_type": "password", "client_id": "self", "username": "target@example.org"}),
        ("/login", {"email": "target@example.org"}),
    ],
)
def test_a_padded_login_is_413_before_any_password_is_checked(real_app, path, form):
    # Before: the limiter looked at the first 64 KiB only, found no user name in a longer body, and the
    # route then checked the password (403) without counting it against the user name.
    response = real_app.post(path, data={**form, "password": "wrong", "padding": PADDING})
    assert response.status_code == 413
    assert response.headers["connection"] == "close"


def test_a_padded_login_does_not_count_and_an_ordinary_one_does(storage):
    with TestClient(limited_app(storage)) as client:
        form = {"client_id": "self", "username": "ada@example.org", "password": "wrong"}
        for attempt in range(10):
            padded = client.post(
                "/oauth/login", data={**form, "x": PADDING}, headers=peer(f"203.0.113.{attempt}")
            )
            assert padded.status_code == 413
        # Ten failures for the name from ten addresses, with padding that still fits: the user-name rule
        # reads the whole form and counts them.
        for attempt in range(10):
            fits = {**form, "x": "p" * (FORM_READ_LIMIT - 200)}
            assert (
                client.post("/oauth/login", data=fits, headers=peer(f"198.51.100.{attempt}")).status_code
                == 403
            )
        assert client.post("/oauth/login", data=form, headers=peer("192.0.2.99")).status_code == 429


def test_the_limiter_reads_the_user_name_the_route_reads(storage):
    # `;` is no separator for either parser; a repeated field counts by its first value, as the route
    # reads it (oauth/api.py), so a decoy second value cannot draw the count away.
    with TestClient(limited_app(storage)) as client:
        for attempt in range(10):
            body = (
                "client_id=self&x=1;username=decoy&username=ada%40example.org"
                f"&username=decoy{attempt}&password=wrong"
            )
            response = client.post(
                "/oauth/login",
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded", **peer(f"203.0.113.{attempt}")},
            )
            assert response.status_code == 403
        form = {"client_id": "self", "username": "ada@example.org", "password": "wrong"}
        assert client.post("/oauth/login", data=form, headers=peer("192.0.2.99")).status_code == 429


def test_a_login_body_of_another_type_reaches_the_route_untouched(storage):
    received: list[bytes] = []
    app = FastAPI()

    @app.post("/oauth/login")
    async def login(request: Request) -> PlainTextResponse:
        received.append(await request.body())
        return PlainTextResponse("no", status_code=400)

    app.add_middleware(RateLimitMiddleware, storage=storage, secret=SECRET)
    with TestClient(app) as client:
        response = client.post("/oauth/login", json={"username": "ada@example.org", "padding": PADDING})
    assert response.status_code == 400, response.text
    assert len(received) == 1 and received[0].startswith(b'{"username"')
    assert len(received[0]) > FORM_READ_LIMIT
