"""Scope escalation: scopes only narrow, and an app token never reaches account or admin routes
(RFC 6819 §4.4.1.4, §4.6.4, §5.1.5.1; RFC 9700 §2.3, §4.10; gancio-api.md §3.8 W5)."""

from __future__ import annotations

import pytest

from tests.factories import bearer, make_client, make_user, web_session
from tests.oauth.flow import authorize_params, get_code, hidden_fields
from tests.security.flows import exchange, issue, refresh


@pytest.fixture
def admin_app_token(client, db):
    admin = make_user(db, "admin@example.org", role="admin")
    web_session(client, admin)
    app_client, secret = make_client(db)
    return app_client, secret, issue(client, app_client.id, secret)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/users"),
        ("GET", "/api/settings"),
        ("POST", "/api/settings"),
        ("GET", "/api/settings/smtp"),
    ],
)
def test_an_admins_event_write_token_is_refused_on_admin_routes(client, admin_app_token, method, path):
    _, _, tokens = admin_app_token
    response = client.request(
        method, path, headers=bearer(tokens["access_token"]), json={"key": "x", "value": 1}
    )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/user"), ("GET", "/api/clients"), ("DELETE", "/api/user")]
)
def test_an_event_write_token_is_refused_on_account_routes(client, admin_app_token, method, path):
    _, _, tokens = admin_app_token
    response = client.request(method, path, headers=bearer(tokens["access_token"]))
    assert response.status_code == 403


def test_a_refresh_cannot_widen_the_scope(client, admin_app_token):
    app_client, secret, tokens = admin_app_token
    for wider in ("event:write admin", "admin", "*", "event:write account"):
        response = refresh(client, app_client.id, secret, tokens["refresh_token"], scope=wider)
        assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert refresh(client, app_client.id, secret, tokens["refresh_token"]).json()["scope"] == "event:write"


def test_a_scope_sent_to_the_token_endpoint_does_not_widen_the_code(client, db, person):
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id, scope="event:write"))
    response = exchange(client, code, app_client.id, secret, scope="event:write admin")
    # RFC 6749 §4.1.3 has no scope here: the token gets the scope the person approved, nothing more.
    assert response.json()["scope"] == "event:write"
    token = response.json()["access_token"]
    auth = {"client_id": app_client.id, "client_secret": secret}
    assert client.post("/oauth/introspect", data={"token": token, **auth}).json()["scope"] == "event:write"


def test_an_app_cannot_ask_for_more_than_it_registered(client, db, person):
    app_client, _ = make_client(db, scopes="event:write")
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id, scope="event:write admin"))
    assert page.status_code == 400 and "invalid_scope" in page.text


@pytest.mark.parametrize("scopes", ["admin", "event:write admin", "all", "*"])
def test_an_app_cannot_register_unknown_scopes(client, scopes):
    response = client.post(
        "/api/client", data={"client_name": "App", "redirect_uris": "https://a.example/cb", "scopes": scopes}
    )
    assert response.status_code == 422


def test_a_tampered_consent_form_cannot_add_scopes(client, db, person):
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id, scope="event:write"))
    fields = {**hidden_fields(page.text), "decision": "approve", "scope": "event:write admin"}
    response = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers


def test_a_third_party_token_without_scope_reaches_nothing(client, db):
    from tests.factories import make_token

    admin = make_user(db, role="admin")
    app_client, _ = make_client(db)
    token = make_token(db, admin, client_id=app_client.id, scope="")
    for path in ("/api/user", "/api/users", "/api/settings", "/api/clients"):
        assert client.get(path, headers=bearer(token)).status_code == 403


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_a_moderators_app_token_acts_on_their_own_events_only(client, db, role):
    """The consent page says "in your name": an editor's or admin's `event:write` app token may not
    confirm, unconfirm, read hidden or delete other people's events; their own login or `self` token can."""
    from tests.factories import make_event, make_token

    moderator = make_user(db, f"{role}@example.org", role=role)
    author = make_user(db, "author@example.org")
    others = make_event(db, author, title="Someone else's")
    hidden = make_event(db, None, title="Waiting for a moderator", visible=False)
    app_client, _ = make_client(db)
    app = bearer(make_token(db, moderator, client_id=app_client.id, scope="event:write"))
    first_party = bearer(make_token(db, moderator))

    assert client.put(f"/api/event/unconfirm/{others['id']}", headers=app).status_code == 403
    assert client.put(f"/api/event/confirm/{hidden['id']}", headers=app).status_code == 403
    assert client.get(f"/api/event/detail/{hidden['id']}", headers=app).status_code == 404
    edit = {"id": others["id"], "title": "Taken over", "place_id": others["place"]["id"]}
    assert client.put("/api/event", json=edit, headers=app).status_code == 403
    assert client.delete(f"/api/event/{others['id']}", headers=app).status_code == 403
    assert client.get(f"/api/event/detail/{others['id']}").json()["title"] == "Someone else's"
    # Their own events, through the app: as any user's.
    own = client.post(
        "/api/event",
        json={
            "title": "Mine",
            "start_datetime": others["start_datetime"],
            "place_name": "Here",
            "place_address": "1 St",
        },
        headers=app,
    )
    assert own.status_code == 200
    assert client.delete(f"/api/event/{own.json()['id']}", headers=app).status_code == 200
    # The same person through Piazza's own client moderates as before.
    assert client.get(f"/api/event/detail/{hidden['id']}", headers=first_party).status_code == 200
    assert client.put(f"/api/event/confirm/{hidden['id']}", headers=first_party).status_code == 200
    assert client.delete(f"/api/event/{others['id']}", headers=first_party).status_code == 200
