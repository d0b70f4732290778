"""The rate limits on the real OAuth routes, end to end through create_app (tests/limits/conftest.py waits
for a fresh counting window first)."""

from fastapi.testclient import TestClient

from piazza.app import create_app
from tests.factories import DEFAULT_PASSWORD, make_user


def _app(make_config):
    return create_app(make_config(rate_limits=True))


def test_failed_logins_are_limited_and_a_good_login_is_then_refused_too(make_config, db):
    app = _app(make_config)
    make_user(app.state.db, "target@example.org")
    form = {"grant_type": "password", "client_id": "self", "username": "target@example.org"}
    try:
        with TestClient(app) as client:
            failures = [
                client.post("/oauth/login", data={**form, "password": f"wrong-{i}"}).status_code
                for i in range(10)
            ]
            blocked = client.post("/oauth/login", data={**form, "password": DEFAULT_PASSWORD})
    finally:
        app.state.db.dispose()
    assert set(failures) == {403}
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json()["error"] == "too_many_requests"


def test_successful_logins_do_not_count(make_config, db):
    app = _app(make_config)
    make_user(app.state.db, "ok@example.org")
    form = {"grant_type": "password", "client_id": "self", "username": "ok@example.org"}
    try:
        with TestClient(app) as client:
            statuses = {
                client.post("/oauth/login", data={**form, "password": DEFAULT_PASSWORD}).status_code
                for _ in range(12)
            }
    finally:
        app.state.db.dispose()
    assert statuses == {200}


def test_client_registration_is_limited_like_gancio(make_config, db):
    app = _app(make_config)
    body = {"client_name": "Spam", "redirect_uris": "https://spam.example/cb"}
    try:
        with TestClient(app) as client:
            statuses = [client.post("/api/client", data=body).status_code for _ in range(7)]
    finally:
        app.state.db.dispose()
    assert statuses[:6] == [200] * 6
    assert statuses[6] == 429


def test_failed_client_authentication_at_the_token_endpoint_is_limited(make_config, db):
    app = _app(make_config)
    form = {"grant_type": "authorization_code", "code": "0" * 40, "client_id": "f" * 40, "client_secret": "x"}
    try:
        with TestClient(app) as client:
            statuses = [client.post("/oauth/token", data=form).status_code for _ in range(25)]
    finally:
        app.state.db.dispose()
    # RFC 6749 §5.2: invalid_client, as 400 when the secret came in the body.
    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
