"""POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662)."""

from __future__ import annotations

from tests.factories import bearer, make_client
from tests.oauth.flow import tokens_for


def test_revoking_an_access_token_stops_it(client, db):
    app_client, secret, tokens = tokens_for(client, db)
    response = client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "client_id": app_client.id, "client_secret": secret},
    )
    assert response.status_code == 200
    assert client.get("/api/user", headers=bearer(tokens["access_token"])).status_code == 401


def test_revoking_a_refresh_token_ends_its_access_tokens(client, db):
    app_client, secret, tokens = tokens_for(client, db)
    client.post(
        "/oauth/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": app_client.id,
            "client_secret": secret,
        },
    )
    assert client.get("/api/user", headers=bearer(tokens["access_token"])).status_code == 401


def test_revoking_an_unknown_token_answers_200(client, db):
    app_client, secret = make_client(db)
    response = client.post(
        "/oauth/revoke", data={"token": "0" * 40, "client_id": app_client.id, "client_secret": secret}
    )
    assert response.status_code == 200


def test_revocation_needs_client_authentication(client, db):
    _, _, tokens = tokens_for(client, db)
    response = client.post("/oauth/revoke", data={"token": tokens["access_token"]})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_another_client_cannot_revoke_a_token(client, db):
    _, _, tokens = tokens_for(client, db)
    other, other_secret = make_client(db, name="Other")
    response = client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "client_id": other.id, "client_secret": other_secret},
    )
    assert response.status_code == 400
    assert client.get("/api/user", headers=bearer(tokens["access_token"])).status_code != 401


def test_introspection_describes_an_own_active_token(client, db):
    app_client, secret, tokens = tokens_for(client, db)
    response = client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "client_id": app_client.id, "client_secret": secret},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == app_client.id and body["scope"] == "event:write"


def test_introspection_of_another_clients_token_is_inactive(client, db):
    _, _, tokens = tokens_for(client, db)
    other, other_secret = make_client(db, name="Other")
    response = client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "client_id": other.id, "client_secret": other_secret},
    )
    assert response.json() == {"active": False}


def test_introspection_of_a_revoked_token_is_inactive(client, db):
    app_client, secret, tokens = tokens_for(client, db)
    auth = {"client_id": app_client.id, "client_secret": secret}
    client.post("/oauth/revoke", data={"token": tokens["access_token"], **auth})
    response = client.post("/oauth/introspect", data={"token": tokens["access_token"], **auth})
    assert response.json() == {"active": False}


def test_introspection_needs_client_authentication(client, db):
    _, _, tokens = tokens_for(client, db)
    response = client.post("/oauth/introspect", data={"token": tokens["access_token"]})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
