"""Authorized apps: the list of approved apps and the Revoke button."""

from __future__ import annotations

from piazza.oauth.service import save_consent
from tests.factories import bearer, make_client, make_token
from tests.web.conftest import csrf_of


def test_visitors_are_sent_to_log_in_first(client, db):
    response = client.get("/settings/apps", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsettings%2Fapps"


def test_the_page_lists_approved_apps_with_dates(client, db, logged_in):
    app, _ = make_client(db, name="Event Bot", website="https://bot.example")
    with db.session(write=True) as s:
        save_consent(s, logged_in.id, app.id, "event:write")
    page = client.get("/settings/apps").text
    assert "Event Bot" in page and "https://bot.example" in page
    assert "Approved" in page and "Never" in page  # not used yet
    assert "Add, update and delete events in your name" in page


def test_revoke_ends_the_apps_tokens_at_once(client, db, logged_in):
    app, _ = make_client(db, name="Event Bot")
    with db.session(write=True) as s:
        save_consent(s, logged_in.id, app.id, "event:write")
    token = make_token(db, logged_in, client_id=app.id, scope="event:write")
    assert client.get("/api/events/mine", headers=bearer(token)).status_code == 200
    page = client.get("/settings/apps").text
    response = client.post(
        f"/settings/apps/{app.id}/revoke", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/api/events/mine", headers=bearer(token)).status_code == 401
    assert "Event Bot" not in client.get("/settings/apps").text


def test_revoking_an_unknown_app_is_a_404(client, db, logged_in):
    page = client.get("/settings/apps").text
    response = client.post("/settings/apps/" + "0" * 40 + "/revoke", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 404
