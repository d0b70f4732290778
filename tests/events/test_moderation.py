"""DELETE /api/event/:id, confirm, unconfirm and the unconfirmed list (gancio-api.md §2.3, §5.2)."""

from __future__ import annotations

import time

from sqlalchemy import select

from piazza.events.models import Event, EventTag
from tests.factories import bearer, make_event, make_token, make_user

FUTURE = int(time.time()) + 86400


def test_author_deletes_own_event_and_its_tag_links(client, db):
    author = make_user(db)
    event = make_event(db, author, tags=["gone"])
    response = client.delete(f"/api/event/{event['id']}", headers=bearer(make_token(db, author)))
    assert (response.status_code, response.text) == (200, "OK")
    with db.session() as s:
        assert s.get(Event, event["id"]) is None
        assert s.scalars(select(EventTag)).all() == []


def test_delete_by_a_stranger_is_403_and_unknown_id_is_404(client, db):
    event = make_event(db, make_user(db))
    stranger = make_token(db, make_user(db))
    assert client.delete(f"/api/event/{event['id']}", headers=bearer(stranger)).status_code == 403
    assert client.delete("/api/event/424242", headers=bearer(stranger)).status_code == 404
    assert client.delete("/api/event/abc", headers=bearer(stranger)).status_code == 404


def test_anonymous_delete_is_403(client, db):
    event = make_event(db, make_user(db))
    assert client.delete(f"/api/event/{event['id']}").status_code == 403


def test_deleting_a_parent_detaches_its_children(client, db):
    author = make_user(db)
    parent = make_event(db, author, title="Parent")
    child = make_event(db, author, title="Child")
    with db.session() as s:
        s.get(Event, child["id"]).parent_id = parent["id"]
    client.delete(f"/api/event/{parent['id']}", headers=bearer(make_token(db, author)))
    with db.session() as s:
        assert s.get(Event, child["id"]).parent_id is None


def test_editor_confirms_an_anonymous_event(client, db):
    event = make_event(db, None, start=FUTURE)
    assert event["is_visible"] is False
    editor = make_token(db, make_user(db, role="editor"))
    unconfirmed = client.get("/api/event/unconfirmed", headers=bearer(editor)).json()
    assert [e["id"] for e in unconfirmed] == [event["id"]]
    assert unconfirmed[0]["tags"] == []
    response = client.put(f"/api/event/confirm/{event['id']}", headers=bearer(editor))
    assert (response.status_code, response.text) == (200, "OK")
    assert client.get("/api/event/unconfirmed", headers=bearer(editor)).json() == []
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 200


def test_unconfirm_hides_again_and_unknown_id_is_404_not_500(client, db):
    author = make_user(db)
    event = make_event(db, author)
    token = make_token(db, author)
    assert client.put(f"/api/event/unconfirm/{event['id']}", headers=bearer(token)).status_code == 200
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 404
    assert client.put("/api/event/unconfirm/999999", headers=bearer(token)).status_code == 404
    assert client.put("/api/event/confirm/999999", headers=bearer(token)).status_code == 404


def test_users_cannot_confirm_others_events_or_list_unconfirmed(client, db):
    event = make_event(db, None, start=FUTURE)
    user = make_token(db, make_user(db))
    assert client.put(f"/api/event/confirm/{event['id']}", headers=bearer(user)).status_code == 403
    assert client.get("/api/event/unconfirmed", headers=bearer(user)).status_code == 403
    assert client.get("/api/event/unconfirmed").status_code == 403


def test_unconfirmed_carries_tag_objects(client, db):
    make_event(db, None, start=FUTURE, tags=["t1"])
    admin = make_token(db, make_user(db, role="admin"))
    assert client.get("/api/event/unconfirmed", headers=bearer(admin)).json()[0]["tags"] == [{"tag": "t1"}]
