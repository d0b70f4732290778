"""Place and tag routes (gancio-api.md §2.5, §2.6) and tag normalization (§5.5)."""

from __future__ import annotations

import threading
import time

import pytest

from piazza.events.tags import normalize_tags, validate_tag_list
from tests.factories import bearer, make_event, make_token, make_user

NOW = int(time.time())
DAY = 86400


@pytest.fixture
def author(db):
    return make_user(db)


@pytest.fixture
def admin_token(db):
    return make_token(db, make_user(db, role="admin"))


def normalized(db, tags):
    with db.session() as s:
        return normalize_tags(s, validate_tag_list(tags))


def test_new_tags_keep_their_spelling(db):
    assert normalized(db, ["tag1", "Tag2", "tAg3"]) == ["tag1", "Tag2", "tAg3"]


def test_duplicates_collapse_to_the_first_spelling(db):
    assert normalized(db, ["ciao", " Ciao "]) == ["ciao"]


def test_existing_tags_are_reused_with_their_stored_spelling(db):
    normalized(db, ["tag1", "Tag2", "tAg3"])
    assert normalized(db, ["Tag1", "taG2 "]) == ["tag1", "Tag2"]
    assert normalized(db, ["tag1", "tag3", "tag4"]) == ["tag1", "tAg3", "tag4"]


def test_unicode_tags_match_case_insensitively_in_any_script(db):
    assert normalized(db, ["üniversite etkinliği", "ÜNIVERSITE ETKINLIĞI"]) == ["üniversite etkinliği"]
    assert normalized(db, ["ÜNIVERSITE ETKINLIĞI"]) == ["üniversite etkinliği"]
    assert normalized(db, ["ΜΟΥΣΙΚΗ"]) == ["ΜΟΥΣΙΚΗ"]
    assert normalized(db, ["μουσικη"]) == ["ΜΟΥΣΙΚΗ"]


def test_punctuation_and_leading_underscore_are_stored_verbatim(db):
    tags = ["_sync-key", "rock'n'roll!", "#hash", "a/b", "emoji 🎉"]
    assert normalized(db, tags) == tags
    assert normalized(db, ["_SYNC-KEY"]) == ["_sync-key"]
    assert normalized(db, ["sync-key"]) == ["sync-key"]  # the underscore is part of the tag


def test_empty_tags_are_dropped(db):
    assert normalized(db, ["", "  ", "x"]) == ["x"]


def test_tag_search_returns_strings_of_used_tags(client, db, author):
    make_event(db, author, tags=["music", "musical"])
    make_event(db, author, tags=["music"])
    make_event(db, None, tags=["museum"])  # hidden
    response = client.get("/api/tag", params={"search": "mus"})
    assert response.json() == ["music", "musical"]
    assert response.headers["access-control-allow-origin"] == "*"
    assert client.get("/api/tag").json() == ["music", "musical"]


def test_tag_events_and_404(client, db, author):
    make_event(db, author, title="A", start=NOW + DAY, tags=["x"])
    make_event(db, author, title="B", start=NOW + 2 * DAY, tags=["y"])
    assert [e["title"] for e in client.get("/api/tag/x").json()] == ["A"]
    assert [e["title"] for e in client.get("/api/tag/x,y").json()] == ["A", "B"]
    assert client.get("/api/tag/nope").status_code == 404


def test_admin_lists_tags_with_counts(client, db, author, admin_token):
    make_event(db, author, tags=["a", "b"])
    make_event(db, author, tags=["a"])
    response = client.get("/api/tags", headers=bearer(admin_token))
    assert response.json() == [{"tag": "a", "count": 2}, {"tag": "b", "count": 1}]
    assert client.get("/api/tags", headers=bearer(make_token(db, author))).status_code == 403


def test_admin_renames_and_merges_tags(client, db, author, admin_token):
    one = make_event(db, author, tags=["old"])
    make_event(db, author, tags=["old", "target"])
    make_event(db, author, tags=["target"])
    assert (
        client.put(
            "/api/tag", json={"tag": "old", "newTag": "renamed"}, headers=bearer(admin_token)
        ).status_code
        == 200
    )
    assert client.get(f"/api/event/detail/{one['id']}").json()["tags"] == ["renamed"]
    client.put("/api/tag", json={"tag": "renamed", "newTag": "target"}, headers=bearer(admin_token))
    counts = client.get("/api/tags", headers=bearer(admin_token)).json()
    assert counts == [{"tag": "target", "count": 3}]
    assert (
        client.put(
            "/api/tag", json={"tag": "missing", "newTag": "x"}, headers=bearer(admin_token)
        ).status_code
        == 404
    )


def test_admin_deletes_a_tag(client, db, author, admin_token):
    event = make_event(db, author, tags=["gone", "kept"])
    assert client.delete("/api/tag/gone", headers=bearer(admin_token)).status_code == 200
    assert client.get(f"/api/event/detail/{event['id']}").json()["tags"] == ["kept"]
    assert client.delete("/api/tag/gone", headers=bearer(admin_token)).status_code == 404


def test_place_by_name_or_id_with_its_upcoming_events(client, db, author):
    event = make_event(db, author, title="Here", start=NOW + DAY, place_name="Hall")
    make_event(db, author, title="Past", start=NOW - 5 * DAY, place_name="Hall")
    by_name = client.get("/api/place/Hall")
    by_id = client.get(f"/api/place/{event['place']['id']}")
    assert by_name.json() == by_id.json()
    assert [e["title"] for e in by_name.json()["events"]] == ["Here"]
    assert by_name.json()["place"]["name"] == "Hall"
    assert by_name.headers["access-control-allow-origin"] == "*"
    assert client.get("/api/place/Nowhere").status_code == 404


def test_place_search_only_places_with_visible_events(client, db, author):
    make_event(db, author, place_name="Teatro Verdi", place_address="Via Verdi")
    make_event(db, None, place_name="Teatro Hidden")
    found = client.get("/api/place", params={"search": "teatro"}).json()
    assert [p["name"] for p in found] == ["Teatro Verdi"]
    assert set(found[0]) == {"name", "address", "latitude", "longitude", "id"}


def test_admin_lists_and_updates_places(client, db, author, admin_token):
    event = make_event(db, author, place_name="Hall")
    places = client.get("/api/places", headers=bearer(admin_token)).json()
    assert [p["name"] for p in places] == ["Hall"]
    response = client.put(
        "/api/place",
        json={"id": event["place"]["id"], "name": "Big Hall", "latitude": 45.1, "longitude": "9.2"},
        headers=bearer(admin_token),
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["longitude"]) == ("Big Hall", 9.2)
    assert (
        client.put("/api/place", json={"id": 9999, "name": "x"}, headers=bearer(admin_token)).status_code
        == 404
    )
    user_token = make_token(db, author)
    assert client.put("/api/place", json={"id": 1}, headers=bearer(user_token)).status_code == 403


def test_two_writers_creating_the_same_new_tag_both_succeed(db):
    """PostgreSQL runs the two transactions side by side: the later insert of the tag waits for the
    earlier one and keeps its row instead of failing on the primary key (a 500 before)."""
    first_inserted, errors = threading.Event(), []

    def first() -> None:
        with db.session() as s:
            normalize_tags(s, ["brand-new"])
            first_inserted.set()
            time.sleep(0.3)  # holds the uncommitted row while the second writer inserts it too

    def second() -> None:
        assert first_inserted.wait(10)
        try:
            with db.session() as s:
                assert normalize_tags(s, ["brand-new"]) == ["brand-new"]
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
