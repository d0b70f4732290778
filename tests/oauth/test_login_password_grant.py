"""POST /oauth/login: the password grant of the first-party client `self` (gancio-api.md §3.2)."""

from __future__ import annotations

from tests.factories import DEFAULT_PASSWORD, bearer, make_client, make_user


def login(client, **fields):
    data = {"grant_type": "password", "client_id": "self", "password": DEFAULT_PASSWORD, **fields}
    return client.post("/oauth/login", data={k: v for k, v in data.items() if v is not None})


def test_login_answers_gancios_token_json(client, db):
    user = make_user(db, "me@example.org")
    response = login(client, username=user.email)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "username", "token_type"}
    assert body["username"] == "me@example.org" and body["token_type"] == "Bearer"
    assert client.get("/api/user", headers=bearer(body["access_token"])).json()["email"] == "me@example.org"


def test_wrong_password_is_403(client, db):
    user = make_user(db)
    response = login(client, username=user.email, password="wrong password")
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


def test_unknown_email_is_403(client, db):
    response = login(client, username="nobody@example.org")
    assert response.status_code == 403


def test_inactive_user_is_403(client, db):
    user = make_user(db, is_active=False)
    assert login(client, username=user.email).status_code == 403


def test_missing_client_id_is_401(client, db):
    user = make_user(db)
    response = login(client, username=user.email, client_id=None)
    assert response.status_code == 401


def test_third_party_client_cannot_use_login(client, db):
    user = make_user(db)
    app_client, _ = make_client(db)
    assert login(client, username=user.email, client_id=app_client.id).status_code == 401


def test_login_refresh_token_rotates_for_self(client, db):
    user = make_user(db)
    first = login(client, username=user.email).json()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "self"},
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/user", headers=bearer(response.json()["access_token"])).status_code == 200
