"""grant_type=refresh_token: rotation, families, reuse detection (RFC 6749 §6, RFC 9700 §4.14)."""

from __future__ import annotations

from tests.factories import bearer, make_client
from tests.oauth.flow import tokens_for


def refresh(client, app_client, secret, token, **extra):
    data = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": app_client.id,
        "client_secret": secret,
    }
    return client.post("/oauth/token", data={**data, **extra})


def test_refresh_rotates_both_tokens(client, db):
    app_client, secret, first = tokens_for(client, db)
    response = refresh(client, app_client, secret, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "event:write"


def test_reused_refresh_token_revokes_the_family(client, db):
    app_client, secret, first = tokens_for(client, db)
    second = refresh(client, app_client, secret, first["refresh_token"]).json()
    reuse = refresh(client, app_client, secret, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # The legitimate newer tokens die with the family.
    assert refresh(client, app_client, secret, second["refresh_token"]).status_code == 400
    assert client.get("/api/user", headers=bearer(second["access_token"])).status_code == 401


def test_refresh_may_narrow_but_not_widen_the_scope(client, db):
    app_client, secret, first = tokens_for(client, db)
    wider = refresh(client, app_client, secret, first["refresh_token"], scope="event:write admin")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    # A refused request does not burn the refresh token.
    same = refresh(client, app_client, secret, first["refresh_token"], scope="event:write")
    assert same.status_code == 200


def test_refresh_token_of_another_client_is_invalid_grant(client, db):
    _, _, first = tokens_for(client, db)
    other, other_secret = make_client(db, name="Other")
    response = refresh(client, other, other_secret, first["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_refresh_token_is_invalid_request(client, db):
    app_client, secret = make_client(db)
    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "client_id": app_client.id, "client_secret": secret},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
