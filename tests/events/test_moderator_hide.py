"""A moderator's unconfirm sticks: the owner cannot publish the event again (issue 15)."""

from __future__ import annotations

from piazza.events.service import HIDDEN_BY_MODERATOR
from tests.factories import bearer, make_event, make_token, make_user


def test_the_owner_cannot_undo_a_moderators_unconfirm(client, db):
    owner = make_user(db)
    event = make_event(db, owner)
    owner_token, editor_token = make_token(db, owner), make_token(db, make_user(db, role="editor"))
    assert client.put(f"/api/event/unconfirm/{event['id']}", headers=bearer(editor_token)).status_code == 200

    response = client.put(f"/api/event/confirm/{event['id']}", headers=bearer(owner_token))
    assert (response.status_code, response.text) == (403, HIDDEN_BY_MODERATOR)
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 404
    # Hiding it again or editing it does not publish it either.
    assert client.put(f"/api/event/unconfirm/{event['id']}", headers=bearer(owner_token)).status_code == 200
    edit = {
        "id": event["id"],
        "title": "Edited",
        "place_name": "The Square",
        "place_address": "1 Main Street",
    }
    assert client.put("/api/event", json=edit, headers=bearer(owner_token)).json()["is_visible"] is False
    assert client.put(f"/api/event/confirm/{event['id']}", headers=bearer(owner_token)).status_code == 403

    # A moderator (here an admin) publishes it; then it is the owner's own again.
    admin_token = make_token(db, make_user(db, role="admin"))
    assert client.put(f"/api/event/confirm/{event['id']}", headers=bearer(admin_token)).status_code == 200
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 200
    assert client.put(f"/api/event/unconfirm/{event['id']}", headers=bearer(owner_token)).status_code == 200
    assert client.put(f"/api/event/confirm/{event['id']}", headers=bearer(owner_token)).status_code == 200


def test_an_owner_still_hides_and_publishes_their_own_event(client, db):
    owner = make_user(db)
    event = make_event(db, owner)
    token = make_token(db, owner)
    assert client.put(f"/api/event/unconfirm/{event['id']}", headers=bearer(token)).status_code == 200
    assert client.put(f"/api/event/confirm/{event['id']}", headers=bearer(token)).status_code == 200
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 200


def test_a_moderator_hiding_their_own_event_can_publish_it_again(client, db):
    editor = make_user(db, role="editor")
    event = make_event(db, editor)
    token = make_token(db, editor)
    assert client.put(f"/api/event/unconfirm/{event['id']}", headers=bearer(token)).status_code == 200
    assert client.put(f"/api/event/confirm/{event['id']}", headers=bearer(token)).status_code == 200
