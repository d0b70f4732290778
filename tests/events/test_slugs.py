"""Slugs (gancio-api.md §5.8)."""

from __future__ import annotations

import pytest

from piazza.events.slugs import slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        (" Admin Évent & co. ", "admin-event-and-co"),
        ("weekly", "weekly"),
        ("I <3 Straße", "i-love-strasse"),
        ("Rock && Roll || Jazz", "rock-and-roll-or-jazz"),
        ("Привет мир", "privet-mir"),
        ("Ελλάδα", "ellada"),
        ("Price: 5$ / 3€", "price-5-dollar-3-euro"),
        ("a.b.c", "abc"),
        ("  --  ", ""),
        ("東京 party", "東京-party"),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_an_event_without_a_sluggable_title_is_reached_by_id(client, db):
    from tests.factories import make_event, make_user

    event = make_event(db, make_user(db), title="!!!")
    assert event["slug"] is None
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 200
