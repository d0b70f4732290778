"""An all-digit path segment always names an event id; no slug is ever all digits (issue 15, item 8)."""

from __future__ import annotations

from sqlalchemy import insert

from piazza.events.models import Event
from piazza.events.slugs import slugify, unique_slug
from tests.factories import make_event, make_user


def test_a_numeric_title_gets_a_slug_that_is_not_an_id(client, db):
    author = make_user(db)
    first = make_event(db, author, title="The first one")
    numeric = make_event(db, author, title=str(first["id"]))
    assert numeric["slug"] == f"event-{first['id']}"
    again = make_event(db, author, title=f" {first['id']} ")
    assert again["slug"] == f"event-{first['id']}-1"

    detail = client.get(f"/api/event/detail/{first['id']}")
    assert detail.json()["id"] == first["id"]
    assert client.get(f"/api/event/detail/{numeric['slug']}").json()["id"] == numeric["id"]
    page = client.get(f"/event/{first['id']}")
    assert page.status_code == 200 and "The first one" in page.text


def test_digits_of_any_script_and_numbers_after_cleaning_get_the_prefix(db):
    assert slugify("٤٢") == "٤٢"  # the slug rules keep them; the prefix makes them not an id
    with db.session() as s:
        assert unique_slug(s, "٤٢") == "event-٤٢"
        assert unique_slug(s, "2026.") == "event-2026"  # `.` is dropped first
        assert unique_slug(s, "12 - 13") == "12-13"  # not all digits: as Gancio makes it
        assert unique_slug(s, "Event 4") == "event-4"


def test_a_stored_all_digit_slug_no_longer_shadows_the_event_with_that_id(client, db):
    """Rows from before this rule (or an import): the id wins, the slug row is reached by its own id."""
    author = make_user(db)
    target = make_event(db, author, title="Target")
    with db.session() as s:
        shadow_id = s.execute(
            insert(Event).values(
                title="Shadow",
                slug=str(target["id"]),
                start_datetime=target["start_datetime"],
                is_visible=True,
            )
        ).inserted_primary_key[0]
    assert client.get(f"/api/event/detail/{target['id']}").json()["title"] == "Target"
    assert client.get(f"/api/event/detail/{target['id']}.ics").text.count("SUMMARY:Target") == 1
    assert "Target" in client.get(f"/event/{target['id']}").text
    assert client.get(f"/api/event/detail/{shadow_id}").json()["title"] == "Shadow"


def test_a_segment_that_is_not_all_ascii_digits_is_only_a_slug(client, db):
    author = make_user(db)
    event = make_event(db, author, title="Only by slug")
    assert client.get(f"/api/event/detail/{event['slug']}").status_code == 200
    # Not an id: a sign, a space or other digits are looked up as slugs only, and none exists.
    for segment in (f"+{event['id']}", f"{event['id']}%20", "%D9%A4"):
        assert client.get(f"/api/event/detail/{segment}").status_code == 404
