"""Token guessing and scanning (RFC 6819 §4.6.3, §5.1.4.2.2; RFC 7662 §4; RFC 7009 §2.2;
gancio-api.md §3.8 W13)."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission
from tests.conftest import wait_for_a_fresh_window
from tests.factories import bearer, make_client, make_token, make_user


@pytest.mark.parametrize(
    "token",
    ["0" * 40, "f" * 39, "g" * 40, "A" * 40, "é" * 10, "x" * 4000, "null", "' OR 1=1 --", "%00"],
)
@pytest.mark.parametrize("path", ["/api/user", "/api/clients", "/api/users"])
def test_a_made_up_token_is_401_invalid_token_never_anonymous(client, db, token, path):
    response = client.get(path, headers={"Authorization": f"Bearer {token}".encode()})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_near_misses_of_a_real_token_are_refused(client, db):
    user = make_user(db)
    token = make_token(db, user)
    for near in (token[:-1], token + "0", token.upper(), " " + token + "x", token[::-1]):
        assert client.get("/api/user", headers=bearer(near)).status_code == 401
    assert client.get("/api/user", headers=bearer(token)).status_code == 200


def test_introspection_reveals_nothing_about_other_clients_tokens(client, db):
    user = make_user(db)
    owner, _ = make_client(db, name="Owner")
    scanner, scanner_secret = make_client(db, name="Scanner")
    token = make_token(db, user, client_id=owner.id, scope="event:write")
    auth = {"client_id": scanner.id, "client_secret": scanner_secret}
    real = client.post("/oauth/introspect", data={"token": token, **auth}).json()
    made_up = client.post("/oauth/introspect", data={"token": "1" * 40, **auth}).json()
    assert real == made_up == {"active": False}


def test_revoking_an_unknown_token_answers_200_like_a_real_one(client, db):
    # RFC 7009 §2.2: revoking a token that does not exist is no error, so revocation reveals nothing.
    user = make_user(db)
    app_client, secret = make_client(db)
    token = make_token(db, user, client_id=app_client.id, scope="event:write")
    auth = {"client_id": app_client.id, "client_secret": secret}
    made_up = client.post("/oauth/revoke", data={"token": "1" * 40, **auth})
    real = client.post("/oauth/revoke", data={"token": token, **auth})
    assert made_up.status_code == real.status_code == 200
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_a_token_another_client_tried_to_revoke_still_works(client, db):
    user = make_user(db)
    owner, _ = make_client(db, name="Owner")
    scanner, scanner_secret = make_client(db, name="Scanner")
    token = make_token(db, user, client_id=owner.id, scope="event:write")
    client.post(
        "/oauth/revoke", data={"token": token, "client_id": scanner.id, "client_secret": scanner_secret}
    )
    introspect = client.post(
        "/oauth/introspect", data={"token": token, "client_id": scanner.id, "client_secret": scanner_secret}
    )
    assert introspect.json() == {"active": False}
    with db.session() as s:
        from piazza.oauth.models import Token

        assert s.query(Token).one().revoked_at is None


def test_made_up_tokens_on_the_event_route_are_limited_per_address(app_with):
    wait_for_a_fresh_window()
    app = app_with(rate_limits=True)
    if not any(getattr(route, "path", None) == "/api/event" for route in app.routes):
        # Before the events package is merged, a route with the same bearer guard stands in for it.
        @app.post("/api/event")
        async def add_event(caller: Caller = Depends(require(Permission.EVENT_WRITE))) -> dict:
            return {"user_id": caller.user_id}

    with TestClient(app) as client:
        statuses = [
            client.post("/api/event", headers=bearer(f"{i:040x}"), json={}).status_code for i in range(7)
        ]
    assert statuses[:6] == [401] * 6
    assert statuses[6] == 429
