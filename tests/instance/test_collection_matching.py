"""Which events a collection selects (gancio-api.md §5.12) and their E-collection shape (§2.3.9)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event as sa_event

from piazza.instance import collection_events
from piazza.instance.settings import set_setting
from tests.factories import insert_event, make_collection, make_place

NOW = int(time.time())
DAY = 86400


def names(client, collection, **params):
    response = client.get(f"/api/collections/{collection}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    return [event["title"] for event in response.json()]


@pytest.fixture
def agenda(db):
    """Five upcoming events: jazz at the hall, rock at the hall, jazz at the park, a jazz event without
    a place, and an untagged event at the park."""
    hall, park = make_place(db, "Hall"), make_place(db, "Park")
    insert_event(db, "jazz-hall", start=NOW + DAY, place_id=hall, tags=("jazz",))
    insert_event(db, "rock-hall", start=NOW + 2 * DAY, place_id=hall, tags=("rock",))
    insert_event(db, "jazz-park", start=NOW + 3 * DAY, place_id=park, tags=("jazz", "free"))
    insert_event(db, "jazz-online", start=NOW + 4 * DAY, tags=("jazz",))
    insert_event(db, "plain-park", start=NOW + 5 * DAY, place_id=park)
    return {"hall": hall, "park": park}


def test_unknown_collection_is_an_empty_list(client):
    assert names(client, "nothing") == []


def test_collection_without_filters_is_empty(client, db, agenda):
    make_collection(db, "empty")
    assert names(client, "empty") == []


def test_filters_without_criteria_are_ignored(client, db, agenda):
    make_collection(db, "blank", {"tags": [], "places": []}, {"negate": True})
    assert names(client, "blank") == []


def test_tag_filter_selects_events_with_that_tag(client, db, agenda):
    make_collection(db, "jazz", {"tags": ["jazz"]})
    assert names(client, "jazz") == ["jazz-hall", "jazz-park", "jazz-online"]


def test_tag_filter_matches_tags_case_insensitively(client, db, agenda):
    make_collection(db, "jazz", {"tags": ["JAZZ"]})
    assert names(client, "jazz") == ["jazz-hall", "jazz-park", "jazz-online"]


def test_a_filter_with_several_tags_needs_any_of_them(client, db, agenda):
    make_collection(db, "music", {"tags": ["rock", "free"]})
    assert names(client, "music") == ["rock-hall", "jazz-park"]


def test_place_filter_selects_events_at_those_places(client, db, agenda):
    make_collection(db, "park", {"places": [{"id": agenda["park"], "name": "Park"}]})
    assert names(client, "park") == ["jazz-park", "plain-park"]


def test_tags_and_places_inside_one_filter_must_both_match(client, db, agenda):
    make_collection(db, "jazz-at-hall", {"tags": ["jazz"], "places": [{"id": agenda["hall"]}]})
    assert names(client, "jazz-at-hall") == ["jazz-hall"]


def test_separate_filters_are_alternatives(client, db, agenda):
    make_collection(db, "either", {"tags": ["rock"]}, {"places": [{"id": agenda["park"]}]})
    assert names(client, "either") == ["rock-hall", "jazz-park", "plain-park"]


def test_negated_filter_excludes_its_events(client, db, agenda):
    make_collection(db, "jazz-not-free", {"tags": ["jazz"]}, {"tags": ["free"], "negate": True})
    assert names(client, "jazz-not-free") == ["jazz-hall", "jazz-online"]


def test_negated_place_filter_keeps_events_without_a_place(client, db, agenda):
    make_collection(
        db, "jazz-not-hall", {"tags": ["jazz"]}, {"places": [{"id": agenda["hall"]}], "negate": True}
    )
    assert names(client, "jazz-not-hall") == ["jazz-park", "jazz-online"]


def test_negated_filter_excludes_only_when_all_its_parts_match(client, db, agenda):
    make_collection(
        db,
        "jazz-but-not-jazz-at-hall",
        {"tags": ["jazz"]},
        {"tags": ["jazz"], "places": [{"id": agenda["hall"]}], "negate": True},
    )
    assert names(client, "jazz-but-not-jazz-at-hall") == ["jazz-park", "jazz-online"]


def test_only_negated_filters_select_everything_else(client, db, agenda):
    make_collection(db, "no-jazz", {"tags": ["jazz"], "negate": True})
    assert names(client, "no-jazz") == ["rock-hall", "plain-park"]


def test_actor_filter_with_null_ap_id_selects_local_events(client, db, agenda):
    insert_event(db, "remote", start=NOW + DAY, ap_user_ap_id="https://other.example/u/x", tags=("jazz",))
    make_collection(db, "local-jazz", {"tags": ["jazz"], "actors": [{"ap_id": None}]})
    assert names(client, "local-jazz") == ["jazz-hall", "jazz-park", "jazz-online"]
    make_collection(db, "remote", {"actors": [{"ap_id": "https://other.example/u/x"}]})
    assert names(client, "remote") == ["remote"]
    make_collection(db, "all-jazz", {"tags": ["jazz"]})
    assert "remote" in names(client, "all-jazz")  # federated events are in when the filters allow


def test_hidden_events_and_recurrent_parents_are_never_selected(client, db):
    insert_event(db, "hidden", start=NOW + DAY, tags=("jazz",), is_visible=False)
    insert_event(db, "parent", start=NOW + DAY, tags=("jazz",), recurrent={"frequency": "1w"})
    insert_event(db, "shown", start=NOW + DAY, tags=("jazz",))
    make_collection(db, "jazz", {"tags": ["jazz"]})
    assert names(client, "jazz") == ["shown"]


def test_occurrences_need_show_recurrent_and_allow_recurrent_event(client, db):
    parent = insert_event(db, "parent", start=NOW + DAY, tags=("jazz",), recurrent={"frequency": "1w"})
    insert_event(db, "occurrence", start=NOW + DAY, tags=("jazz",), parent_id=parent)
    make_collection(db, "jazz", {"tags": ["jazz"]})
    assert names(client, "jazz", show_recurrent="true") == []  # allow_recurrent_event is off
    with db.session() as s:
        set_setting(s, "allow_recurrent_event", True)
    assert names(client, "jazz") == []  # recurrent_event_visible defaults to false
    assert names(client, "jazz", show_recurrent="true") == ["occurrence"]
    with db.session() as s:
        set_setting(s, "recurrent_event_visible", True)
    assert names(client, "jazz") == ["occurrence"]
    assert names(client, "jazz", show_recurrent="false") == []


def test_start_at_keeps_upcoming_and_ongoing_events(client, db):
    insert_event(db, "past", start=NOW - 3 * DAY, end=NOW - 2 * DAY, tags=("jazz",))
    insert_event(db, "ongoing", start=NOW - DAY, end=NOW + DAY, tags=("jazz",))
    insert_event(db, "future", start=NOW + DAY, tags=("jazz",))
    make_collection(db, "jazz", {"tags": ["jazz"]})
    assert names(client, "jazz") == ["ongoing", "future"]
    assert names(client, "jazz", start_at=NOW - 4 * DAY) == ["past", "ongoing", "future"]
    assert names(client, "jazz", start_at="not a number") == ["ongoing", "future"]


def test_older_reverse_and_max(client, db):
    for day in (-3, -2, 1, 2, 3):
        insert_event(db, f"day{day}", start=NOW + day * DAY, tags=("jazz",))
    make_collection(db, "jazz", {"tags": ["jazz"]})
    assert names(client, "jazz", older="true") == ["day-3", "day-2"]
    assert names(client, "jazz", older="false") == ["day1", "day2", "day3"]  # only "true" counts
    assert names(client, "jazz", reverse="true") == ["day3", "day2", "day1"]
    assert names(client, "jazz", reverse="yes") == ["day1", "day2", "day3"]
    assert names(client, "jazz", max="2") == ["day1", "day2"]
    assert names(client, "jazz", max="0") == ["day1", "day2", "day3"]
    assert names(client, "jazz", max="2", reverse="true") == ["day3", "day2"]


def test_events_have_the_e_collection_shape(client, db):
    place = make_place(db, "Hall", "Via Roma 1")
    parent = insert_event(db, "parent", start=NOW + DAY, recurrent={"frequency": "1w"})
    insert_event(
        db,
        "full",
        start=NOW + DAY,
        end=NOW + DAY + 3600,
        place_id=place,
        tags=("jazz", "free"),
        slug="full",
        multidate=True,
        image_path="img.jpg",
        parent_id=parent,
        description="<p>secret-ish description</p>",
        media=[{"url": "a.jpg"}],
    )
    insert_event(db, "bare", start=NOW + 2 * DAY, tags=("jazz",), multidate=False)
    make_collection(db, "jazz", {"tags": ["jazz"]})
    with db.session() as s:
        set_setting(s, "allow_recurrent_event", True)
    full, bare = client.get("/api/collections/jazz", params={"show_recurrent": "true"}).json()
    assert set(full) == {
        "id", "title", "slug", "multidate", "start_datetime", "end_datetime", "image_path", "media",
        "online_locations", "ap_id", "updatedAt", "parentId", "tags", "place", "ap_user",
    }  # fmt: skip
    assert full["tags"] == ["jazz", "free"]
    assert full["place"] == {"id": place, "name": "Hall", "address": "Via Roma 1"}
    assert full["parentId"] == parent and full["multidate"] is True and full["ap_user"] is None
    assert full["end_datetime"] == NOW + DAY + 3600 and full["media"] == [{"url": "a.jpg"}]
    # Falsy multidate, image_path, recurrent and parentId are left out.
    assert set(bare) == {
        "id", "title", "slug", "start_datetime", "end_datetime", "media", "online_locations", "ap_id",
        "updatedAt", "tags", "place", "ap_user",
    }  # fmt: skip
    assert bare["place"] is None and bare["end_datetime"] is None


def test_collection_query_is_one_statement_plus_fixed_lookups(db, agenda):
    """Filters, settings, events, tags: four statements, however many events (design.md)."""
    make_collection(
        db,
        "jazz",
        {"tags": ["jazz"]},
        {"places": [{"id": agenda["park"]}]},
        {"negate": True, "tags": ["rock"]},
    )
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def run() -> int:
        statements.clear()
        with db.session(write=False) as s:
            found = collection_events.collection_events(s, "jazz", start_at=NOW)
        return len(found)

    sa_event.listen(db.read_engine, "before_cursor_execute", record)
    try:
        few = run()
        few_count = len(statements)
        for day in range(10):
            insert_event(db, f"more-{day}", start=NOW + day * DAY, tags=("jazz",))
        many = run()
        many_count = len(statements)
    finally:
        sa_event.remove(db.read_engine, "before_cursor_execute", record)
    assert (few, many) == (4, 14)
    assert few_count == many_count
    assert sum("FROM events" in s for s in statements) == 1


def test_collection_events_service_honours_end_for_the_home_page(db, agenda):
    make_collection(db, "jazz", {"tags": ["jazz"]})
    with db.session(write=False) as s:
        found = collection_events.collection_events(s, "jazz", start_at=NOW, end=NOW + 3 * DAY + 1, max=5)
        assert [e["title"] for e in found] == ["jazz-hall", "jazz-park"]
        assert collection_events.collection_events(s, "unknown", start_at=NOW) == []


def test_malformed_filter_rows_from_an_import_are_ignored_not_fatal(client, db, agenda):
    make_collection(
        db,
        "imported",
        {"tags": None, "places": [None, {"name": "no id"}, {"id": agenda["park"]}], "actors": ["x", 3]},
    )
    assert names(client, "imported") == ["jazz-park", "plain-park"]
