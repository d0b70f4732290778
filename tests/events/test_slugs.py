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
        ("Tom & Jerry + 100% @ home", "tom-and-jerry-plus-100-percent-at-home"),
        ("a<b>c|d=e$f", "a-less-b-greater-c-or-d-equals-e-dollar-f"),
        ("Jazz_night ~ 2.0 (live)!", "jazz_night-~-20-live"),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_an_event_without_a_sluggable_title_is_reached_by_id(client, db):
    from tests.factories import make_event, make_user

    event = make_event(db, make_user(db), title="!!!")
    assert event["slug"] is None
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 200


def _store_slugs(db, slugs):
    from sqlalchemy import insert

    from piazza.events.models import Event

    with db.session() as s:
        s.execute(insert(Event), [{"title": slug, "slug": slug, "start_datetime": 1} for slug in slugs])


def _next_slug(db, title):
    from piazza.events.slugs import unique_slug

    with db.session() as s:
        return unique_slug(s, title)


def test_a_taken_slug_gets_the_first_free_number(db):
    # Neither other words after the base nor another case count as taken numbers.
    _store_slugs(db, ["fair", "fair-1", "fair-3", "fair-2-b", "fair-two", "Fair-2", "fairground"])
    assert _next_slug(db, "Fair") == "fair-2"
    assert _next_slug(db, "Fairground") == "fairground-1"
    assert _next_slug(db, "Fair 2") == "fair-2"  # fair-2 is free, whatever else starts with it
    assert _next_slug(db, "Fair 1") == "fair-1-1"


def test_a_title_used_many_times_gets_the_next_number(db):
    _store_slugs(db, ["market"] + [f"market-{n}" for n in range(1, 1200)])
    assert _next_slug(db, "Market") == "market-1200"
    _store_slugs(db, ["market-1200", "market-1201"])
    assert _next_slug(db, "Market") == "market-1202"
