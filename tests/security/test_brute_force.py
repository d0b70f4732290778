"""Online guessing of passwords, client secrets, codes and refresh tokens is slowed down
(RFC 6819 §4.3.5, §4.4.1.3, §4.4.3.6, §4.5.3; design.md "failed logins and client authentications")."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, make_client, make_user, web_session
from tests.oauth.flow import csrf_of


def test_web_login_guessing_is_refused_after_ten_failures_even_with_the_right_password(limited):
    db = limited.app.state.db
    user = make_user(db, "guessed@example.org")
    token = csrf_of(limited.get("/login").text)
    form = {"email": user.email, "csrf_token": token}
    failures = [
        limited.post("/login", data={**form, "password": f"guess {i}"}).status_code for i in range(10)
    ]
    assert failures == [403] * 10
    assert limited.post("/login", data={**form, "password": DEFAULT_PASSWORD}).status_code == 429


@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_client_secret_guessing_is_refused_after_ten_failures(limited, endpoint):
    app_client, secret = make_client(limited.app.state.db)
    form = {"grant_type": "refresh_token", "refresh_token": "0" * 40, "token": "0" * 40}
    statuses = [
        limited.post(
            endpoint, data={**form, "client_id": app_client.id, "client_secret": f"{i:040x}"}
        ).status_code
        for i in range(10)
    ]
    assert all(status in (400, 401) for status in statuses)
    right = limited.post(endpoint, data={**form, "client_id": app_client.id, "client_secret": secret})
    assert right.status_code == 429 and right.json()["error"] == "too_many_requests"


def test_code_guessing_by_a_registered_client_is_refused_after_ten_failures(limited):
    app_client, secret = make_client(limited.app.state.db)
    auth = {"client_id": app_client.id, "client_secret": secret, "grant_type": "authorization_code"}
    for i in range(10):
        response = limited.post("/oauth/token", data={**auth, "code": f"{i:040x}"})
        assert response.json()["error"] == "invalid_grant"
    assert limited.post("/oauth/token", data={**auth, "code": "f" * 40}).status_code == 429


def test_refresh_token_guessing_is_refused_after_ten_failures(limited):
    app_client, secret = make_client(limited.app.state.db)
    auth = {"client_id": app_client.id, "client_secret": secret, "grant_type": "refresh_token"}
    for i in range(10):
        response = limited.post("/oauth/token", data={**auth, "refresh_token": f"{i:040x}"})
        assert response.json()["error"] == "invalid_grant"
    assert limited.post("/oauth/token", data={**auth, "refresh_token": "f" * 40}).status_code == 429


def test_legitimate_token_requests_are_never_slowed_down(limited):
    db = limited.app.state.db
    user = make_user(db)
    web_session(limited, user)
    app_client, secret = make_client(db)
    from tests.security.flows import issue, refresh

    tokens = issue(limited, app_client.id, secret)
    for _ in range(12):
        response = refresh(limited, app_client.id, secret, tokens["refresh_token"])
        assert response.status_code == 200
        tokens = response.json()
        introspected = limited.post(
            "/oauth/introspect",
            data={"token": tokens["access_token"], "client_id": app_client.id, "client_secret": secret},
        )
        assert introspected.status_code == 200


def test_passwords_are_stored_with_argon2(db):
    from piazza.accounts.models import User

    user = make_user(db, password="a fresh password for argon")
    with db.session() as s:
        assert s.get(User, user.id).password.startswith("$argon2")
