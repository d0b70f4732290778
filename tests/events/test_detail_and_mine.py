"""GET /api/event/detail/:x, /api/events/mine and /api/event/meta (gancio-api.md §2.3)."""

from __future__ import annotations

import time

import pytest

from piazza.events import queries
from piazza.events.models import Event
from tests.factories import bearer, make_event, make_token, make_user, sqlite_plan

NOW = int(time.time())
DAY = 86400
E_DETAIL_KEYS = {
    "id", "title", "slug", "description", "multidate", "start_datetime", "end_datetime", "image_path",
    "media", "is_visible", "recurrent", "likes", "boost", "online_locations", "parentId", "tags", "place",
    "resources", "parent", "isMine", "isAnon", "next", "prev", "plain_description",
}  # fmt: skip
E_MINE_KEYS = {
    "id", "title", "slug", "multidate", "start_datetime", "end_datetime", "media", "is_visible",
    "recurrent", "online_locations", "ap_object", "ap_id", "updatedAt", "apUserApId", "parentId",
    "tags", "place",
}  # fmt: skip


def test_detail_by_slug_or_id_with_neighbours_and_plain_text(client, db):
    author = make_user(db)
    first = make_event(db, author, title="First", start=NOW + DAY)
    middle = make_event(
        db,
        author,
        title="Middle",
        start=NOW + 2 * DAY,
        description='<p>See <a href="https://example.org/x">the site</a></p>',
        tags=["t"],
    )
    make_event(db, author, title="Last", start=NOW + 3 * DAY)
    by_slug = client.get("/api/event/detail/middle")
    by_id = client.get(f"/api/event/detail/{middle['id']}")
    assert by_slug.status_code == 200
    assert by_slug.json() == by_id.json()
    detail = by_slug.json()
    assert set(detail) == E_DETAIL_KEYS
    assert detail["next"] == "last" and detail["prev"] == first["slug"]
    assert detail["plain_description"] == "See the site [https://example.org/x]"
    assert detail["isAnon"] is False and detail["isMine"] is False
    assert detail["tags"] == ["t"]
    assert by_slug.headers["access-control-allow-origin"] == "*"


def test_neighbours_break_ties_by_id_and_skip_parents_and_hidden_events(client, db):
    author = make_user(db)
    first = make_event(db, author, title="First", start=NOW + DAY)
    tie_a = make_event(db, author, title="Tie A", start=NOW + 2 * DAY)
    tie_b = make_event(db, author, title="Tie B", start=NOW + 2 * DAY)
    parent = make_event(db, author, title="Weekly", start=NOW + 2 * DAY + 50)
    hidden = make_event(db, author, title="Hidden", start=NOW + 2 * DAY + 100, visible=False)
    last = make_event(db, author, title="Last", start=NOW + 3 * DAY)
    with db.session() as s:
        s.get(Event, parent["id"]).recurrent = {"frequency": "1w"}

    def neighbours(event: dict, headers: dict | None = None) -> tuple:
        detail = client.get(f"/api/event/detail/{event['slug']}", headers=headers or {}).json()
        return detail["prev"], detail["next"]

    assert neighbours(first) == (None, tie_a["slug"])
    assert neighbours(tie_a) == (first["slug"], tie_b["slug"])
    assert neighbours(tie_b) == (tie_a["slug"], last["slug"])
    assert neighbours(last) == (tie_b["slug"], None)
    # Moderators see hidden events, and walk through them too.
    moderator = bearer(make_token(db, make_user(db, role="editor")))
    assert neighbours(tie_b, moderator) == (tie_a["slug"], hidden["slug"])
    assert neighbours(hidden, moderator) == (tie_b["slug"], last["slug"])
    assert neighbours(last, moderator) == (hidden["slug"], None)


def test_each_neighbour_is_one_index_range(db):
    """Found by a range on ix_events_visible_start that stops at the first match, however large the
    agenda; written `start > S OR (start = S AND id > I)` it walked the index from the first event."""
    if not db.is_sqlite:
        pytest.skip("SQLite's query plan")
    params = {"visible": True, "start": NOW, "id": 1}
    after = sqlite_plan(db, queries.NEXT_STATEMENT, params)
    before = sqlite_plan(db, queries.PREV_STATEMENT, params)
    assert "ix_events_visible_start (is_visible=? AND start_datetime>?)" in after
    assert "ix_events_visible_start (is_visible=? AND start_datetime<?)" in before
    assert "TEMP B-TREE" not in after + before


def test_is_mine_for_the_author(client, db):
    author = make_user(db)
    event = make_event(db, author)
    detail = client.get(f"/api/event/detail/{event['id']}", headers=bearer(make_token(db, author))).json()
    assert detail["isMine"] is True


def test_hidden_event_is_404_except_for_author_and_moderators(client, db):
    author = make_user(db)
    event = make_event(db, author, visible=False)
    url = f"/api/event/detail/{event['id']}"
    assert client.get(url).status_code == 404
    assert client.get(url, headers=bearer(make_token(db, make_user(db)))).status_code == 404
    assert client.get(url, headers=bearer(make_token(db, author))).status_code == 200
    editor = make_token(db, make_user(db, role="editor"))
    assert client.get(url, headers=bearer(editor)).status_code == 200


def test_anonymous_event_detail_is_anon(client, db):
    event = make_event(db, None, visible=True)
    assert client.get(f"/api/event/detail/{event['id']}").json()["isAnon"] is True


def test_unknown_event_and_unknown_suffix_are_404(client, db):
    event = make_event(db, make_user(db))
    assert client.get("/api/event/detail/nothing-here").status_code == 404
    assert client.get(f"/api/event/detail/{event['slug']}.xml").status_code == 404


def test_detail_shows_the_parent_of_an_occurrence(client, db):
    author = make_user(db)
    parent = make_event(db, author, title="Weekly", start=NOW + DAY)
    child = make_event(db, author, title="Weekly", start=NOW + DAY)
    with db.session() as s:
        s.get(Event, parent["id"]).recurrent = {"frequency": "1w"}
        s.get(Event, child["id"]).parent_id = parent["id"]
    detail = client.get(f"/api/event/detail/{child['id']}").json()
    assert detail["parent"] == {
        "id": parent["id"],
        "recurrent": {"frequency": "1w"},
        "is_visible": True,
        "start_datetime": NOW + DAY,
    }


def test_mine_lists_own_upcoming_events_newest_first(client, db):
    author = make_user(db)
    make_event(db, author, title="Past", start=NOW - 3 * DAY)
    make_event(db, author, title="Soon", start=NOW + DAY)
    make_event(db, author, title="Later", start=NOW + 2 * DAY)
    make_event(db, make_user(db), title="Not mine", start=NOW + DAY)
    mine = client.get("/api/events/mine", headers=bearer(make_token(db, author))).json()
    assert [e["title"] for e in mine] == ["Later", "Soon"]
    assert set(mine[0]) == E_MINE_KEYS


def test_mine_needs_a_user(client):
    assert client.get("/api/events/mine").status_code == 403


def test_meta_matches_places_and_tags_of_visible_events(client, db):
    author = make_user(db)
    make_event(db, author, place_name="Jazz Club", place_address="Blue street", tags=["jazz", "blues"])
    make_event(db, author, place_name="Jazz Club", tags=["jazz"])
    make_event(db, None, place_name="Hidden Jazz", tags=["jazzhidden"])
    items = client.get("/api/event/meta", params={"search": "jaz"}).json()
    assert items[0]["w"] == 2
    labels = {(i["type"], i["label"]) for i in items}
    assert labels == {("place", "Jazz Club"), ("tag", "jazz")}
    place = next(i for i in items if i["type"] == "place")
    assert set(place) == {"label", "address", "latitude", "longitude", "id", "w", "type"}


def test_meta_without_search_answers_instead_of_failing(client, db):
    make_event(db, make_user(db), tags=["x"])
    assert client.get("/api/event/meta").status_code == 200
