"""PUT /api/event (gancio-api.md §5.3): who may update, what changes, and nothing half-saved."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from piazza.events.models import Event
from tests.factories import bearer, make_client, make_event, make_token, make_user

FUTURE = int(time.time()) + 7 * 86400


@pytest.fixture
def author(db):
    return make_user(db, "author@example.org")


@pytest.fixture
def event(db, author):
    return make_event(db, author, title="Original", start=FUTURE, end=FUTURE + 3600, tags=["keep", "Other"])


def put(client, token, event, **fields):
    body = {"id": event["id"], "place_id": event["place"]["id"], **fields}
    return client.put("/api/event", json=body, headers=bearer(token))


def stored(db, event_id):
    with db.session() as s:
        return s.get(Event, event_id)


def test_author_updates_fields_and_gets_the_full_shape(client, db, author, event):
    token = make_token(db, author)
    response = put(client, token, event, title="Renamed", tags=["keep", "new"], start_datetime=FUTURE + 60)
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Renamed"
    assert body["slug"] == "original"  # slugs never change (§5.8)
    assert body["tags"] == ["keep", "new"]
    assert body["start_datetime"] == FUTURE + 60
    assert body["end_datetime"] == FUTURE + 3600  # kept when absent
    assert set(body["place"]) == {"id", "name", "address", "latitude", "longitude"}


def test_id_may_be_a_numeric_string(client, db, author, event):
    token = make_token(db, author)
    response = client.put(
        "/api/event",
        json={"id": str(event["id"]), "place_id": event["place"]["id"], "title": "Via string"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Via string"


def test_unknown_id_is_404_and_other_users_get_403(client, db, event):
    stranger = make_user(db, "stranger@example.org")
    token = make_token(db, stranger)
    assert put(client, token, {**event, "id": 99999}).status_code == 404
    assert put(client, token, event, title="Hijack").status_code == 403
    assert stored(db, event["id"]).title == "Original"


def test_editor_may_update_anyones_event(client, db, event):
    editor = make_user(db, "editor@example.org", role="editor")
    assert put(client, make_token(db, editor), event, title="Edited").status_code == 200


def test_anonymous_update_is_forbidden(client, event):
    response = client.put("/api/event", json={"id": event["id"], "title": "x"})
    assert response.status_code == 403


def test_missing_place_fails_without_saving_any_field(client, db, author, event):
    # Gancio saves the fields, then answers 400 (§5.3 step 6); here nothing changes.
    token = make_token(db, author)
    response = client.put("/api/event", json={"id": event["id"], "title": "Changed"}, headers=bearer(token))
    assert (response.status_code, response.text) == (
        400,
        "place_id or place_name and place_address are required",
    )
    assert stored(db, event["id"]).title == "Original"


def test_non_array_tags_fail_without_saving(client, db, author, event):
    response = put(client, make_token(db, author), event, title="Changed", tags="nope")
    assert (response.status_code, response.text) == (400, "tags field must be an array")
    assert stored(db, event["id"]).title == "Original"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start_datetime": FUTURE + 7200}, "start datetime is greater than end datetime"),
        ({"end_datetime": 31_536_000_001}, "end_datetime is too much in the future"),
        ({"start_datetime": "x"}, "Wrong format for start datetime"),
        ({"start_datetime": 31_536_000_001, "end_datetime": ""}, "start_datetime is too much in the future"),
    ],
)
def test_update_validation_messages(client, db, author, event, fields, message):
    response = put(client, make_token(db, author), event, **fields)
    assert (response.status_code, response.text) == (400, message)


def test_empty_end_clears_it(client, db, author, event):
    response = put(client, make_token(db, author), event, end_datetime="")
    assert response.json()["end_datetime"] is None


def test_missing_tags_remove_all_tags(client, db, author, event):
    assert put(client, make_token(db, author), event).json()["tags"] == []


def test_existing_tag_spelling_wins_on_update(client, db, author, event):
    response = put(client, make_token(db, author), event, tags=["KEEP", "other", "fresh"])
    assert response.json()["tags"] == ["keep", "Other", "fresh"]


def test_empty_description_keeps_the_old_one(client, db, author):
    event = make_event(db, author, description="<p>hello</p>")
    response = put(client, make_token(db, author), event, description="")
    assert response.json()["description"] == "<p>hello</p>"


def test_third_party_token_updates_only_its_users_events(client, db, author, event):
    app_client, _ = make_client(db)
    own = make_token(db, author, client_id=app_client.id, scope="event:write")
    assert put(client, own, event, title="From the app").status_code == 200
    other_user = make_user(db, "other@example.org")
    others = make_token(db, other_user, client_id=app_client.id, scope="event:write")
    assert put(client, others, event, title="Not theirs").status_code == 403


def test_admins_third_party_token_updates_only_the_admins_own_events(client, db, event):
    # An app acts "in your name" (issue 15): moderation needs the admin's own login or `self` token.
    admin = make_user(db, "admin@example.org", role="admin")
    app_client, _ = make_client(db)
    token = make_token(db, admin, client_id=app_client.id, scope="event:write")
    assert put(client, token, event, title="By admin app").status_code == 403
    assert put(client, make_token(db, admin), event, title="By admin").status_code == 200


def test_update_does_not_change_visibility(client, db, event):
    with db.session() as s:
        s.get(Event, event["id"]).is_visible = False
    editor = make_user(db, "ed@example.org", role="editor")
    assert put(client, make_token(db, editor), event, title="t").json()["is_visible"] is False
    with db.session() as s:
        assert s.scalar(select(Event.is_visible).where(Event.id == event["id"])) is False
