"""Bearer tokens carry scopes and are enforced (design.md; gancio-api.md §3.8 W5)."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from piazza.app import create_app
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission
from tests.conftest import empty_database
from tests.factories import bearer, make_client, make_token, make_user


@pytest.fixture
def proving_client(make_config):
    """An app with two routes built for this test: one needing event:write, one needing admin."""
    app = create_app(make_config())

    @app.post("/test/event-write")
    async def event_write(caller: Caller = Depends(require(Permission.EVENT_WRITE))) -> dict:
        return {"user_id": caller.user_id}

    @app.get("/test/admin")
    async def admin(caller: Caller = Depends(require(Permission.ADMIN))) -> dict:
        return {"user_id": caller.user_id}

    with TestClient(app) as client:
        yield client, app.state.db
    empty_database(app.state.db)
    app.state.db.dispose()


def test_event_write_token_reaches_an_event_write_route(proving_client):
    client, db = proving_client
    user = make_user(db)
    app_client, _ = make_client(db)
    token = make_token(db, user, client_id=app_client.id, scope="event:write")
    assert client.post("/test/event-write", headers=bearer(token)).json() == {"user_id": user.id}


def test_third_party_event_write_token_is_refused_on_an_admin_route_even_for_an_admin(proving_client):
    client, db = proving_client
    admin = make_user(db, role="admin")
    app_client, _ = make_client(db)
    token = make_token(db, admin, client_id=app_client.id, scope="event:write")
    response = client.get("/test/admin", headers=bearer(token))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    # The same admin's own first-party token passes.
    assert client.get("/test/admin", headers=bearer(make_token(db, admin))).status_code == 200


def test_third_party_token_without_scope_is_refused_on_event_write(proving_client):
    client, db = proving_client
    user = make_user(db)
    app_client, _ = make_client(db)
    token = make_token(db, user, client_id=app_client.id, scope="")
    response = client.post("/test/event-write", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_missing_token_is_403_and_bad_token_is_401(proving_client):
    client, _ = proving_client
    assert client.post("/test/event-write").status_code == 403
    response = client.post("/test/event-write", headers=bearer("f" * 40))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
