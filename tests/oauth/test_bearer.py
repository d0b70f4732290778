from datetime import timedelta

from piazza.db.base import utcnow
from piazza.oauth.tokens import revoke_tokens_of_user
from tests.factories import bearer, make_client, make_token, make_user


def test_self_token_reads_the_current_user(client, db):
    user = make_user(db, "me@example.org")
    response = client.get("/api/user", headers=bearer(make_token(db, user)))
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "me@example.org"
    assert body["is_admin"] is False and body["is_editor"] is False
    assert "password" not in body and "recover_code" not in body


def test_missing_token_on_guarded_route_is_403_as_gancio(client):
    response = client.get("/api/user")
    assert response.status_code == 403
    assert response.text == "Forbidden"


def test_unknown_token_is_401_invalid_token(client):
    response = client.get("/api/user", headers=bearer("0" * 40))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


def test_empty_bearer_header_is_401(client):
    response = client.get("/api/user", headers={"Authorization": "Bearer "})
    assert response.status_code == 401


def test_expired_token_is_401(client, db):
    user = make_user(db)
    token = make_token(db, user, expires_at=utcnow() - timedelta(seconds=1))
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_revoked_token_is_401(client, db):
    user = make_user(db)
    token = make_token(db, user)
    with db.session() as s:
        assert revoke_tokens_of_user(s, user.id) == 1
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_token_of_inactive_user_is_401(client, db):
    user = make_user(db, is_active=False)
    assert client.get("/api/user", headers=bearer(make_token(db, user))).status_code == 401


def test_token_in_query_string_is_not_accepted(client, db):
    user = make_user(db)
    token = make_token(db, user)
    assert client.get(f"/api/user?access_token={token}").status_code == 403


def test_third_party_event_write_token_cannot_read_account(client, db):
    user = make_user(db, role="admin")
    app_client, _ = make_client(db)
    token = make_token(db, user, client_id=app_client.id, scope="event:write")
    response = client.get("/api/user", headers=bearer(token))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
