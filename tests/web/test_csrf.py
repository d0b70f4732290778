"""Every form of the pages refuses a post without this session's CSRF token, and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from piazza.accounts.service import find_user_by_email
from piazza.events.models import Event
from piazza.oauth.service import list_authorized_apps, save_consent
from tests.factories import make_client, make_event


def _event_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Event))


FORMS = [
    ("/login", {"email": "member@example.org", "password": "x"}),
    ("/register", {"email": "new@example.org", "password": "a long password"}),
    ("/recover", {"email": "member@example.org"}),
    ("/recover/some-code", {"password": "a long password", "password_again": "a long password"}),
    ("/user_confirm/some-code", {"password": "a long password", "password_again": "a long password"}),
    (
        "/add",
        {"title": "Sneaky", "start_datetime": "2031-01-01T10:00", "place_name": "X", "place_address": "Y"},
    ),
    ("/logout", {}),
]


@pytest.mark.parametrize(("path", "fields"), FORMS, ids=[path for path, _ in FORMS])
@pytest.mark.parametrize("token", [None, "0" * 40])
def test_a_form_without_the_right_csrf_token_is_refused(client, db, logged_in, path, fields, token):
    client.get("/")  # the session has a token; the post brings none or another one
    data = dict(fields) if token is None else {**fields, "csrf_token": token}
    response = client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 403
    assert _event_count(db) == 0


def test_editing_an_event_without_csrf_changes_nothing(client, db, logged_in):
    event = make_event(db, logged_in, title="Original")
    data = {"title": "Changed", "start_datetime": "2031-01-01T10:00", "place_name": "X", "place_address": "Y"}
    response = client.post(f"/event/edit?event={event['slug']}", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert client.get(f"/event/{event['slug']}").text.count("Original") >= 1


def test_deleting_an_event_without_csrf_changes_nothing(client, db, logged_in):
    event = make_event(db, logged_in)
    response = client.post(f"/event/{event['id']}/delete", data={"csrf_token": "0" * 40})
    assert response.status_code == 403
    assert _event_count(db) == 1


def test_revoking_an_app_without_csrf_changes_nothing(client, db, logged_in):
    app, _ = make_client(db)
    with db.session(write=True) as s:
        save_consent(s, logged_in.id, app.id, "event:write")
    response = client.post(f"/settings/apps/{app.id}/revoke", data={"csrf_token": "0" * 40})
    assert response.status_code == 403
    with db.session() as s:
        assert len(list_authorized_apps(s, logged_in.id)) == 1


def test_registering_without_csrf_creates_nobody(client, db):
    client.get("/register")
    client.post("/register", data={"email": "new@example.org", "password": "a long password"})
    with db.session() as s:
        assert find_user_by_email(s, "new@example.org") is None
