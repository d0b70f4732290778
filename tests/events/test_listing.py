"""GET /api/events (gancio-api.md §5.10): parameters, exact E-list keys, three statements per page."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event as sa_event

from piazza.events.models import Event
from piazza.instance.settings import set_setting
from tests.factories import make_event, make_user, sqlite_plan

NOW = int(time.time())
DAY = 86400
E_LIST_KEYS = {
    "id", "title", "slug", "start_datetime", "end_datetime", "media", "online_locations",
    "updatedAt", "apUserApId", "parentId", "tags", "place",
}  # fmt: skip


@pytest.fixture
def author(db):
    return make_user(db)


def titles(client, **params):
    response = client.get("/api/events", params=params)
    assert response.status_code == 200
    return [e["title"] for e in response.json()]


def test_list_items_have_exactly_gancios_keys_and_cors(client, db, author):
    make_event(db, author, title="Plain", start=NOW + DAY, tags=["a"])
    make_event(db, author, title="Multi", start=NOW + 2 * DAY, multidate=True)
    response = client.get("/api/events")
    assert response.headers["access-control-allow-origin"] == "*"
    plain, multi = response.json()
    assert set(plain) == E_LIST_KEYS
    assert set(multi) == E_LIST_KEYS | {"multidate"}
    assert set(plain["place"]) == {"id", "name", "address", "latitude", "longitude"}
    assert plain["tags"] == ["a"]


def test_default_start_is_now_and_ongoing_events_are_included(client, db, author):
    make_event(db, author, title="Past", start=NOW - 3 * DAY, end=NOW - 2 * DAY)
    make_event(db, author, title="Ongoing", start=NOW - DAY, end=NOW + DAY)
    make_event(db, author, title="Later", start=NOW + 2 * DAY)
    make_event(db, author, title="Soon", start=NOW + DAY)
    assert titles(client) == ["Ongoing", "Soon", "Later"]


def test_start_end_max_and_page(client, db, author):
    for day in range(1, 6):
        make_event(db, author, title=f"D{day}", start=NOW + day * DAY)
    assert titles(client, start=NOW + 2 * DAY, end=NOW + 4 * DAY) == ["D2", "D3", "D4"]
    assert titles(client, max=2) == ["D1", "D2"]
    assert titles(client, max=2, page=1) == ["D3", "D4"]
    assert titles(client, max=2, page=2) == ["D5"]
    assert titles(client, max=0) == ["D1", "D2", "D3", "D4", "D5"]


def test_paging_counts_ongoing_events_first(client, db, author):
    make_event(db, author, title="Ongoing", start=NOW - DAY, end=NOW + DAY)
    make_event(db, author, title="A", start=NOW + DAY)
    make_event(db, author, title="B", start=NOW + 2 * DAY)
    assert titles(client, max=2) == ["Ongoing", "A"]
    assert titles(client, max=2, page=1) == ["B"]


def test_older_is_true_for_any_value_and_flips_the_comparison(client, db, author):
    make_event(db, author, title="Past", start=NOW - 2 * DAY)
    make_event(db, author, title="Future", start=NOW + 2 * DAY)
    assert titles(client, older="false") == ["Past"]


def test_hidden_events_and_parents_are_never_listed(client, db, author):
    make_event(db, None, title="Hidden", start=NOW + DAY)
    parent = make_event(db, author, title="Parent", start=NOW + DAY)
    with db.session() as s:
        s.get(Event, parent["id"]).recurrent = {"frequency": "1w"}
    assert titles(client) == []


def test_tags_filter_is_exact_and_accepts_commas_or_repeats(client, db, author):
    make_event(db, author, title="Music", start=NOW + DAY, tags=["Music"])
    make_event(db, author, title="Art", start=NOW + 2 * DAY, tags=["art"])
    make_event(db, author, title="None", start=NOW + 3 * DAY)
    assert titles(client, tags="music") == []
    assert titles(client, tags="Music,art") == ["Music", "Art"]
    assert titles(client, tags=["Music", "art"]) == ["Music", "Art"]


def test_places_filter_combines_with_tags(client, db, author):
    a = make_event(db, author, title="A", start=NOW + DAY, place_name="Hall A", tags=["x"])
    make_event(db, author, title="B", start=NOW + 2 * DAY, place_name="Hall B", tags=["x"])
    make_event(db, author, title="C", start=NOW + 3 * DAY, place_name="Hall A")
    assert titles(client, places=str(a["place"]["id"])) == ["A", "C"]
    assert titles(client, places=str(a["place"]["id"]), tags="x") == ["A"]


def test_query_searches_title_place_and_tags_including_the_past(client, db, author):
    make_event(db, author, title="Old Jazz night", start=NOW - 30 * DAY)
    make_event(db, author, title="Other", start=NOW + DAY, place_name="Jazz Club")
    make_event(db, author, title="Tagged", start=NOW + 2 * DAY, tags=["JAZZ"])
    make_event(db, author, title="Unrelated", start=NOW + 3 * DAY)
    assert titles(client, query="JAZZ") == ["Old Jazz night", "Other", "Tagged"]


def test_multidate_filter_and_setting(client, db, author):
    make_event(db, author, title="Multi", start=NOW + DAY, multidate=True)
    make_event(db, author, title="Single", start=NOW + 2 * DAY)
    assert titles(client) == ["Multi", "Single"]
    assert titles(client, show_multidate="false") == ["Single"]
    with db.session() as s:
        set_setting(s, "allow_multidate_event", False)
    assert titles(client, show_multidate="true") == ["Single"]


def test_occurrences_need_both_the_setting_and_show_recurrent(client, db, author):
    parent = make_event(db, author, title="Parent", start=NOW + DAY)
    child = make_event(db, author, title="Child", start=NOW + 2 * DAY)
    with db.session() as s:
        s.get(Event, parent["id"]).recurrent = {"frequency": "1w"}
        s.get(Event, child["id"]).parent_id = parent["id"]
    assert titles(client, show_recurrent="true") == []  # allow_recurrent_event is off by default
    with db.session() as s:
        set_setting(s, "allow_recurrent_event", True)
    assert titles(client, show_recurrent="true") == ["Child"]
    assert titles(client) == []  # default: recurrent_event_visible (false)
    with db.session() as s:
        set_setting(s, "recurrent_event_visible", True)
    assert titles(client) == ["Child"]
    assert titles(client, show_recurrent="no") == []


def test_reverse_is_ignored(client, db, author):
    make_event(db, author, title="A", start=NOW + DAY)
    make_event(db, author, title="B", start=NOW + 2 * DAY)
    assert titles(client, reverse="true") == ["A", "B"]


def test_bad_numbers_fall_back_like_gancio(client, db, author):
    make_event(db, author, title="A", start=NOW + DAY)
    assert titles(client, max="lots", page="x", start="soon") == ["A"]


@pytest.mark.parametrize(
    ("n_events", "params", "expected"),
    [
        # The listing's settings (`collection_in_home` among them, §5.10), the events, their tags.
        (1, {"max": 50, "tags": "t"}, 3),
        (30, {"max": 50, "tags": "t"}, 3),
        (1, {"max": 50}, 3),
        (30, {"max": 50}, 3),
    ],
)
def test_listing_statements_do_not_grow_with_the_events(client, db, app, author, n_events, params, expected):
    for i in range(n_events):
        make_event(db, author, title=f"E{i}", start=NOW + DAY + i, tags=["t", f"t{i}"])
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            return
        if "outbox" in statement:  # the mail worker's poll, on its own schedule, is not the request's
            return
        statements.append(statement)

    engine = db.read_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get("/api/events", params=params)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert len(response.json()) == n_events
    assert all(len(e["tags"]) == 2 for e in response.json())
    assert len(statements) == expected, statements


def listing_plan(db, settings: dict) -> str:
    """SQLite's plan for the default `?max=50` listing under these settings."""
    from piazza.events.queries import ListingSettings, listing_statement, parse_listing

    stmt, params = listing_statement(parse_listing({"max": ["50"]}, now=NOW), ListingSettings.of(settings))
    return sqlite_plan(db, stmt, params)


def test_hidden_occurrences_are_skipped_inside_the_index(db):
    """The default listing hides occurrences with an indexed equality, so a large agenda's thousands of
    upcoming occurrences are never read; no branch scans the events table."""
    if not db.is_sqlite:
        pytest.skip("SQLite's query plan")
    plan = listing_plan(db, {})
    assert "ix_events_visible_parent_start (is_visible=? AND parent_id=? AND start_datetime>?)" in plan
    assert "ix_events_visible_parent_end (is_visible=? AND parent_id=? AND end_datetime>?)" in plan
    assert "SCAN events" not in plan
    shown = listing_plan(db, {"allow_recurrent_event": True, "recurrent_event_visible": True})
    assert "ix_events_visible_start (is_visible=? AND start_datetime>?)" in shown
    assert "SCAN events" not in shown


def test_many_hidden_occurrences_do_not_crowd_out_the_page(client, db, author):
    parent = make_event(db, author, title="Series", start=NOW - DAY)
    occurrences = [make_event(db, author, title=f"Occurrence {i}", start=NOW + DAY + i) for i in range(30)]
    for i in range(3):
        make_event(db, author, title=f"Plain {i}", start=NOW + 2 * DAY + i)
    with db.session() as s:
        s.get(Event, parent["id"]).recurrent = {"frequency": "1w"}
        for occurrence in occurrences:
            s.get(Event, occurrence["id"]).parent_id = parent["id"]
    assert titles(client, max=2) == ["Plain 0", "Plain 1"]
    assert titles(client, max=2, page=1) == ["Plain 2"]
