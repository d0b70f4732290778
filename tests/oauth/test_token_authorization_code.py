"""POST /oauth/token with grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636)."""

from __future__ import annotations

import base64
import logging

from sqlalchemy import select, update

from piazza.db.base import utcnow
from piazza.oauth.models import AuthorizationCode
from tests.conftest import empty_database
from tests.factories import bearer, make_client, make_user, web_session
from tests.oauth.flow import REDIRECT, authorize_params, get_code, pkce_pair

TOKEN_HEX = r"^[0-9a-f]{40}$"


def exchange(client, code, client_id, secret=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
    if secret:
        data["client_secret"] = secret
    data.update(extra)
    return client.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})


def setup_code(client, db, **params):
    user = make_user(db)
    app_client, secret = make_client(db)
    web_session(client, user)
    return app_client, secret, get_code(client, authorize_params(app_client.id, **params))


def test_code_exchange_answers_the_token_json_with_no_store(client, db):
    app_client, secret, code = setup_code(client, db)
    response = exchange(client, code, app_client.id, secret, redirect_uri=REDIRECT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "refresh_token", "scope"}  # no expiry by default
    assert body["token_type"] == "Bearer" and body["scope"] == "event:write"
    assert len(body["access_token"]) == 40 and len(body["refresh_token"]) == 40


def test_expires_in_is_sent_when_access_tokens_expire(make_config, db):
    from fastapi.testclient import TestClient

    from piazza.app import create_app

    app = create_app(make_config(access_token_ttl=3600))
    with TestClient(app) as client:
        app_client, secret, code = setup_code(client, app.state.db)
        body = exchange(client, code, app_client.id, secret).json()
    empty_database(app.state.db)
    app.state.db.dispose()
    assert body["expires_in"] == 3600


def test_client_secret_basic_authenticates(client, db):
    app_client, secret, code = setup_code(client, db)
    basic = base64.b64encode(f"{app_client.id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text


def test_wrong_client_secret_is_invalid_client(client, db):
    app_client, _, code = setup_code(client, db)
    response = exchange(client, code, app_client.id, "0" * 40)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_confidential_client_without_redirect_uri_is_accepted_for_its_single_registered_uri(client, db):
    app_client, secret, code = setup_code(client, db)
    response = exchange(client, code, app_client.id, secret)  # no redirect_uri, as Gancio's clients do
    assert response.status_code == 200, response.text


def test_missing_redirect_uri_is_refused_when_the_client_has_several(client, db):
    user = make_user(db)
    app_client, secret = make_client(db, redirect_uris=[REDIRECT, "https://app.example/other"])
    web_session(client, user)
    code = get_code(client, authorize_params(app_client.id))
    response = exchange(client, code, app_client.id, secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_redirect_uri_swap_at_the_token_endpoint_is_invalid_grant(client, db):
    app_client, secret, code = setup_code(client, db)
    response = exchange(client, code, app_client.id, secret, redirect_uri="https://app.example/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_replayed_code_fails_and_revokes_its_tokens(client, db):
    app_client, secret, code = setup_code(client, db)
    first = exchange(client, code, app_client.id, secret).json()
    second = exchange(client, code, app_client.id, secret)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    # The token of the first exchange stops working, and so does its refresh token.
    assert client.get("/api/user", headers=bearer(first["access_token"])).status_code == 401
    refresh = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": app_client.id,
            "client_secret": secret,
        },
    )
    assert refresh.status_code == 400


def test_expired_code_is_invalid_grant(client, db):
    app_client, secret, code = setup_code(client, db)
    with db.session() as s:
        s.execute(update(AuthorizationCode).values(expires_at=utcnow()))
    response = exchange(client, code, app_client.id, secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_of_another_client_is_invalid_grant(client, db):
    _, _, code = setup_code(client, db)
    other, other_secret = make_client(db, name="Other")
    response = exchange(client, code, other.id, other_secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unknown_grant_type_is_unsupported_grant_type(client, db):
    app_client, secret = make_client(db)
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": app_client.id, "client_secret": secret},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_password_grant_is_unauthorized_client_at_the_token_endpoint(client, db):
    user = make_user(db)
    app_client, secret = make_client(db)
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": user.email,
            "password": "correct horse battery",
            "client_id": app_client.id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_json_body_is_not_read_by_the_token_endpoint(client, db):
    app_client, secret, code = setup_code(client, db)
    response = client.post(
        "/oauth/token",
        json={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app_client.id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_scope_at_the_token_endpoint_is_accepted(client, db):
    app_client, secret, code = setup_code(client, db, scope="event:write")
    response = exchange(client, code, app_client.id, secret, scope="event:write")
    assert response.status_code == 200
    assert response.json()["scope"] == "event:write"


# --- PKCE (RFC 7636) -------------------------------------------------------------------------------


def test_confidential_client_with_pkce_exchanges_with_the_verifier(client, db):
    verifier, challenge = pkce_pair()
    app_client, secret, code = setup_code(client, db, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(client, code, app_client.id, secret, code_verifier=verifier)
    assert response.status_code == 200, response.text


def test_pkce_downgrade_without_verifier_is_refused(client, db):
    _, challenge = pkce_pair()
    app_client, secret, code = setup_code(client, db, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(client, code, app_client.id, secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_wrong_pkce_verifier_is_invalid_grant(client, db):
    _, challenge = pkce_pair()
    app_client, secret, code = setup_code(client, db, code_challenge=challenge, code_challenge_method="S256")
    wrong, _ = pkce_pair()
    response = exchange(client, code, app_client.id, secret, code_verifier=wrong)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_verifier_for_a_code_without_challenge_is_refused(client, db):
    app_client, secret, code = setup_code(client, db)
    verifier, _ = pkce_pair()
    response = exchange(client, code, app_client.id, secret, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_public_client_exchanges_with_pkce_and_no_secret(client, db):
    user = make_user(db)
    app_client, _ = make_client(db, public=True)
    web_session(client, user)
    verifier, challenge = pkce_pair()
    code = get_code(
        client, authorize_params(app_client.id, code_challenge=challenge, code_challenge_method="S256")
    )
    response = exchange(client, code, app_client.id, code_verifier=verifier)
    assert response.status_code == 200, response.text


def test_code_row_stores_the_challenge_and_a_digest(client, db):
    _, challenge = pkce_pair()
    _, _, code = setup_code(client, db, code_challenge=challenge, code_challenge_method="S256")
    with db.session() as s:
        row = s.scalar(select(AuthorizationCode))
        assert row.code_digest != code and len(row.code_digest) == 64
        assert row.code_challenge == challenge


def test_code_issued_by_one_node_is_redeemed_on_another(client, db, make_config):
    from fastapi.testclient import TestClient

    from piazza.app import create_app

    app_client, secret, code = setup_code(client, db)
    other_node = create_app(make_config())
    with TestClient(other_node) as other:
        response = exchange(other, code, app_client.id, secret)
        assert response.status_code == 200, response.text
        assert exchange(other, code, app_client.id, secret).status_code == 400
    other_node.state.db.dispose()


def test_tokens_never_reach_the_logs(client, db, caplog):
    caplog.set_level(logging.DEBUG)
    app_client, secret, code = setup_code(client, db)
    body = exchange(client, code, app_client.id, secret).json()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in (code, secret, body["access_token"], body["refresh_token"]):
        assert value not in logged
