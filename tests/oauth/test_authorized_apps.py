"""GET /api/clients and DELETE /api/clients/{id}: the apps a person approved (gancio-api.md §3.7, W11)."""

from __future__ import annotations

from tests.factories import bearer, make_client, make_token, make_user, web_session
from tests.oauth.flow import authorize_params, get_code


def test_apps_list_shows_approvals_without_secrets_or_tokens(client, db):
    user = make_user(db)
    app_client, secret = make_client(db, name="Event Bot")
    web_session(client, user)
    code = get_code(client, authorize_params(app_client.id))
    issued = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app_client.id,
            "client_secret": secret,
        },
    ).json()
    response = client.get("/api/clients", headers=bearer(make_token(db, user)))
    assert response.status_code == 200
    [app] = response.json()
    assert app["name"] == "Event Bot" and app["scopes"] == "event:write" and app["client_id"] == app_client.id
    assert isinstance(app["approved_at"], int) and isinstance(app["last_used_at"], int)
    assert secret not in response.text and issued["access_token"] not in response.text
    assert issued["refresh_token"] not in response.text


def test_deleting_an_app_revokes_its_tokens_and_consent(client, db):
    user = make_user(db)
    app_client, secret = make_client(db)
    web_session(client, user)
    code = get_code(client, authorize_params(app_client.id))
    issued = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app_client.id,
            "client_secret": secret,
        },
    ).json()
    own = bearer(make_token(db, user))
    assert client.delete(f"/api/clients/{app_client.id}", headers=own).status_code == 200
    assert client.get("/api/user", headers=bearer(issued["access_token"])).status_code == 401
    assert client.get("/api/clients", headers=own).json() == []
    # Consent is asked again next time.
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
    assert page.status_code == 200


def test_deleting_an_unapproved_app_is_404(client, db):
    user = make_user(db)
    app_client, _ = make_client(db)
    assert (
        client.delete(f"/api/clients/{app_client.id}", headers=bearer(make_token(db, user))).status_code
        == 404
    )


def test_apps_list_needs_a_user(client):
    assert client.get("/api/clients").status_code == 403
