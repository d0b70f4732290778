"""A place made by an unconfirmed anonymous submission is pending (issue 15, item 9): no other event
adopts it and no place route, search or feed shows it until the event is confirmed; rejecting (deleting)
the submission deletes it."""

from __future__ import annotations

import time

from piazza.events.models import Event, Place
from tests.factories import bearer, make_token, make_user

FUTURE = int(time.time()) + 86400
PLANTED = {"place_name": "Town Hall", "place_address": "A trap street 13"}


def _submit(client, **place):
    body = {"title": "Anonymous party", "start_datetime": FUTURE, **(place or PLANTED)}
    response = client.post("/api/event", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["is_visible"] is False
    return response.json()


def _post_as(client, token, **fields):
    body = {"title": "A real event", "start_datetime": FUTURE, **fields}
    return client.post("/api/event", json=body, headers=bearer(token))


def _places(db):
    with db.session(write=False) as s:
        return {p.id: (p.name, p.address, p.pending) for p in s.query(Place)}


def test_a_later_event_does_not_adopt_the_place_of_an_unconfirmed_submission(client, db):
    submission = _submit(client)
    planted_id = submission["place"]["id"]
    token = make_token(db, make_user(db))
    event = _post_as(client, token, place_name="town hall", place_address="1 Real Square").json()
    assert event["place"]["id"] != planted_id
    assert event["place"]["address"] == "1 Real Square"
    # Not by id nor by ap_id either.
    by_id = _post_as(client, token, place_id=planted_id)
    assert (by_id.status_code, by_id.text) == (400, "Place not found")
    # Another anonymous submission of the same name gets a place of its own too.
    assert _submit(client, place_name="TOWN HALL", place_address="Elsewhere")["place"]["id"] != planted_id


def test_a_pending_place_is_in_no_place_route_search_or_feed(client, db):
    planted_id = _submit(client)["place"]["id"]
    admin = make_token(db, make_user(db, role="admin"))
    assert client.get(f"/api/place/{planted_id}").status_code == 404
    assert client.get("/api/place/Town Hall").status_code == 404
    assert client.get("/api/place", params={"search": "town"}).json() == []
    assert client.get("/api/places", headers=bearer(admin)).json() == []
    assert client.get("/api/event/meta", params={"search": "town"}).json() == []
    for fmt in ("rss", "ics", "json"):
        assert client.get(f"/feed/{fmt}/place/{planted_id}").status_code == 404
        assert client.get(f"/feed/{fmt}/place/Town Hall").status_code == 404


def test_confirming_the_submission_publishes_its_place(client, db):
    submission = _submit(client)
    planted_id = submission["place"]["id"]
    editor = make_token(db, make_user(db, role="editor"))
    assert client.put(f"/api/event/confirm/{submission['id']}", headers=bearer(editor)).status_code == 200
    assert client.get(f"/api/place/{planted_id}").json()["place"]["address"] == "A trap street 13"
    token = make_token(db, make_user(db))
    reused = _post_as(client, token, place_name="Town Hall", place_address="ignored, as Gancio does")
    assert reused.json()["place"]["id"] == planted_id


def test_rejecting_the_submission_deletes_its_place(client, db):
    submission = _submit(client)
    editor = make_token(db, make_user(db, role="editor"))
    assert client.delete(f"/api/event/{submission['id']}", headers=bearer(editor)).status_code == 200
    assert _places(db) == {}


def test_a_moderator_editing_the_submission_keeps_its_place_or_drops_the_one_left_behind(client, db):
    submission = _submit(client)
    planted_id = submission["place"]["id"]
    editor = make_token(db, make_user(db, role="editor"))
    edit = {"id": submission["id"], "title": "Checked", **PLANTED}
    assert client.put("/api/event", json=edit, headers=bearer(editor)).json()["place"]["id"] == planted_id
    assert _places(db) == {planted_id: ("Town Hall", "A trap street 13", True)}

    moved = {**edit, "place_name": "The Library", "place_address": "2 Book Road"}
    place = client.put("/api/event", json=moved, headers=bearer(editor)).json()["place"]
    assert _places(db) == {place["id"]: ("The Library", "2 Book Road", False)}  # made by a moderator


def test_the_web_reject_button_deletes_the_pending_place_too(client, db, app):
    from tests.factories import web_session

    submission = _submit(client)
    editor = make_user(db, role="editor")
    web_session(client, editor)
    page = client.get("/admin/moderation")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        f"/admin/moderation/{submission['id']}/reject", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code in (302, 303)
    with db.session(write=False) as s:
        assert s.get(Event, submission["id"]) is None
    assert _places(db) == {}
