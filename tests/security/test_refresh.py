"""Refresh tokens: rotation, replay, binding, expiry (RFC 6819 §4.5; RFC 9700 §4.14)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from piazza.accounts.models import User
from piazza.db.base import utcnow
from piazza.oauth.models import Token
from tests.factories import make_client, make_user, web_session
from tests.security.flows import issue, refresh, user_status


def test_a_replayed_refresh_token_revokes_the_whole_family(client, db, person):
    app_client, secret = make_client(db)
    first = issue(client, app_client.id, secret)
    second = refresh(client, app_client.id, secret, first["refresh_token"]).json()
    third = refresh(client, app_client.id, secret, second["refresh_token"]).json()
    # The attacker replays the first refresh token: everything descended from the grant dies.
    assert refresh(client, app_client.id, secret, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert user_status(client, third["access_token"]) == 401
    assert refresh(client, app_client.id, secret, third["refresh_token"]).status_code == 400


def test_a_refresh_token_is_bound_to_its_client(client, db, person):
    app_client, secret = make_client(db)
    tokens = issue(client, app_client.id, secret)
    other, other_secret = make_client(db, name="Other")
    assert refresh(client, other.id, other_secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    # The failed attempt by another client does not burn it for its owner.
    assert refresh(client, app_client.id, secret, tokens["refresh_token"]).status_code == 200


def test_a_refresh_needs_the_client_secret(client, db, person):
    app_client, secret = make_client(db)
    tokens = issue(client, app_client.id, secret)
    assert refresh(client, app_client.id, None, tokens["refresh_token"]).status_code in (400, 401)
    wrong = refresh(client, app_client.id, "0" * 40, tokens["refresh_token"])
    assert wrong.json()["error"] == "invalid_client"


def test_an_expired_refresh_token_is_refused(client, db, person):
    app_client, secret = make_client(db)
    tokens = issue(client, app_client.id, secret)
    with db.session() as s:
        s.execute(update(Token).values(refresh_expires_at=utcnow()))
    assert refresh(client, app_client.id, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_tokens_expire_when_a_lifetime_is_configured(app_with):
    app = app_with(refresh_token_ttl=3600)
    with TestClient(app) as client:
        web_session(client, make_user(app.state.db))
        app_client, secret = make_client(app.state.db)
        issue(client, app_client.id, secret)
        with app.state.db.session() as s:
            row = s.query(Token).one()
            assert row.refresh_expires_at is not None
            assert (row.refresh_expires_at - row.created_at).total_seconds() <= 3600


def test_a_deactivated_person_cannot_refresh(client, db):
    user = make_user(db)
    web_session(client, user)
    app_client, secret = make_client(db)
    tokens = issue(client, app_client.id, secret)
    with db.session() as s:
        s.get(User, user.id).is_active = False
    assert refresh(client, app_client.id, secret, tokens["refresh_token"]).status_code == 400


def test_an_access_token_is_not_a_refresh_token(client, db, person):
    app_client, secret = make_client(db)
    tokens = issue(client, app_client.id, secret)
    assert refresh(client, app_client.id, secret, tokens["access_token"]).json()["error"] == "invalid_grant"
    assert user_status(client, tokens["refresh_token"]) == 401


def test_a_revoked_app_cannot_refresh(client, db, person):
    app_client, secret = make_client(db)
    tokens = issue(client, app_client.id, secret)
    login = client.post(
        "/oauth/login",
        data={
            "grant_type": "password",
            "client_id": "self",
            "username": person.email,
            "password": "correct horse battery",
        },
    ).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    assert client.delete(f"/api/clients/{app_client.id}", headers=headers).status_code == 200
    assert refresh(client, app_client.id, secret, tokens["refresh_token"]).status_code == 400
    assert user_status(client, tokens["access_token"]) == 401
