"""/admin/moderation: the queue of hidden future events, confirm and reject, and recent reports."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import select

from piazza.events.models import Event
from piazza.moderation.models import ModerationMessage
from tests.factories import make_event, make_user


def is_visible(db, event_id: int) -> bool | None:
    with db.session(write=False) as s:
        return s.scalar(select(Event.is_visible).where(Event.id == event_id))


def test_the_queue_lists_hidden_future_events_with_time_place_and_author(as_editor, db):
    author = make_user(db, "author@example.org", password=None)
    start = int(time.time()) + 3 * 86400
    anonymous = make_event(db, title="Anonymous picnic", start=start, place_name="The Park")
    by_author = make_event(db, author, title="Author's concert", start=start + 3600, visible=False)
    make_event(db, title="Already public", visible=True)
    make_event(db, author, title="Hidden past", start=int(time.time()) - 86400, visible=False)

    page = as_editor.get("/admin/moderation").text
    assert "Anonymous picnic" in page and "Author&#39;s concert" in page
    assert "Already public" not in page and "Hidden past" not in page
    assert "The Park" in page and "anonymous" in page and "author@example.org" in page
    assert f'action="/admin/moderation/{anonymous["id"]}/confirm"' in page
    assert f'action="/admin/moderation/{by_author["id"]}/reject"' in page
    assert page.index("Anonymous picnic") < page.index("Author&#39;s concert")  # soonest first


def test_times_are_shown_in_the_instance_time_zone(as_editor, db):
    from tests.factories import set_setting

    set_setting(db, "instance_timezone", "America/New_York")
    noon_in_new_york = datetime(2040, 7, 1, 16, 0, tzinfo=UTC)  # 12:00 EDT
    make_event(db, title="Noon in New York", start=int(noon_in_new_york.timestamp()))
    page = as_editor.get("/admin/moderation").text
    assert "Sun 01 Jul 2040, 12:00" in page and "America/New_York" in page


def test_confirm_publishes_the_event(as_editor, db, client):
    event = make_event(db, title="Confirm me")
    assert is_visible(db, event["id"]) is False
    response = as_editor.post(f"/admin/moderation/{event['id']}/confirm")
    assert response.status_code == 303 and response.headers["location"] == "/admin/moderation?done=confirmed"
    assert is_visible(db, event["id"]) is True
    assert "Confirm me" in client.get("/api/events").text
    assert "The event is confirmed" in as_editor.get(response.headers["location"]).text


def test_confirming_a_recurrent_parent_generates_its_occurrences(as_editor, db):
    from tests.factories import set_setting

    set_setting(db, "allow_recurrent_event", True)
    parent = make_event(db, title="Every week", recurrent={"frequency": "1w"}, visible=False)
    as_editor.post(f"/admin/moderation/{parent['id']}/confirm")
    with db.session(write=False) as s:
        children = s.scalars(select(Event).where(Event.parent_id == parent["id"])).all()
    assert children and all(child.is_visible for child in children)


def test_reject_deletes_the_event(as_editor, db):
    event = make_event(db, title="Spam")
    response = as_editor.post(f"/admin/moderation/{event['id']}/reject")
    assert response.status_code == 303
    assert is_visible(db, event["id"]) is None
    assert "Spam" not in as_editor.get("/admin/moderation").text


def test_an_unknown_event_is_a_404_page(as_editor):
    response = as_editor.post("/admin/moderation/999999/confirm")
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]


def test_recent_reports_link_to_their_events(as_editor, db):
    event = make_event(db, title="Reported party", visible=True)
    with db.session() as s:
        s.add(ModerationMessage(event_id=event["id"], message="<b>wrong</b> date", author="ANON"))
    page = as_editor.get("/admin/moderation").text
    assert f'href="/event/{event["slug"]}"' in page and "Reported party" in page
    assert "&lt;b&gt;wrong&lt;/b&gt; date" in page  # escaped, never markup
