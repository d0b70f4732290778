"""Login sessions: fixation, forgery and their cookie (RFC 6819 §4.4.1.6; gancio-api.md §3.8 W1)."""

from __future__ import annotations

import base64
import json

from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from tests.factories import DEFAULT_PASSWORD, make_client, make_user
from tests.oauth.flow import authorize_params, csrf_of


def session_payload(client) -> dict:
    value = client.cookies.get("piazza_session")
    return json.loads(base64.b64decode(value.split(".")[0] + "=="))


def replace_session(client, value: str) -> None:
    client.cookies.clear()
    client.cookies.set("piazza_session", value)


def test_the_csrf_token_and_session_change_at_login(client, db):
    user = make_user(db)
    before_token = csrf_of(client.get("/login").text)
    before_cookie = client.cookies.get("piazza_session")
    client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": before_token}
    )
    after = session_payload(client)
    assert after["user_id"] == user.id
    assert after["csrf"] != before_token
    assert client.cookies.get("piazza_session") != before_cookie
    # A form planted before the login (session fixation) no longer passes.
    assert client.post("/logout", data={"csrf_token": before_token}).status_code == 403


def test_a_planted_session_does_not_survive_the_victims_login(client, db, app):
    attacker, victim = make_user(db, "attacker@example.org"), make_user(db, "victim@example.org")
    with TestClient(app) as other:
        token = csrf_of(other.get("/login").text)
        other.post(
            "/login", data={"email": attacker.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
        )
        planted = other.cookies.get("piazza_session")
    replace_session(client, planted)
    form_token = csrf_of(client.get("/login").text)
    login = client.post(
        "/login",
        data={"email": victim.email, "password": DEFAULT_PASSWORD, "csrf_token": form_token},
        follow_redirects=False,
    )
    value = login.cookies["piazza_session"]
    assert value != planted
    assert json.loads(base64.b64decode(value.split(".")[0] + "=="))["user_id"] == victim.id


def test_a_session_forged_with_gancios_key_is_not_a_login(client, db):
    admin = make_user(db, role="admin")
    app_client, _ = make_client(db)
    forged = base64.b64encode(json.dumps({"user_id": admin.id, "login": "x", "csrf": "y"}).encode())
    for key in ("secret", "piazza"):
        replace_session(client, TimestampSigner(key).sign(forged).decode())
        page = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?")


def test_a_tampered_session_is_not_a_login(client, db):
    user = make_user(db)
    other = make_user(db, role="admin")
    app_client, _ = make_client(db)
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token})
    value = client.cookies.get("piazza_session")
    payload, rest = value.split(".", 1)
    data = json.loads(base64.b64decode(payload + "=="))
    data["user_id"] = other.id
    replace_session(client, base64.b64encode(json.dumps(data).encode()).decode() + "." + rest)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
    assert page.status_code == 303
