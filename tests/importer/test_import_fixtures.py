"""Every Gancio fixture imported, then asked through Piazza's HTTP API what Gancio answered (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from piazza.accounts.models import User
from piazza.app import create_app
from piazza.events.models import Event
from piazza.federation.models import InstanceKey
from tests.importer.conftest import GancioFixture, run_import


@pytest.fixture
def imported(gancio: GancioFixture, make_config) -> Iterator[tuple[TestClient, GancioFixture, Any]]:
    """The fixture imported into this test's database, and a client of the app serving it."""
    from tests.conftest import empty_database

    application = create_app(make_config(base_url=gancio.base_url))
    try:
        report = run_import(application, gancio)
        with TestClient(application, base_url=gancio.base_url) as client:
            yield client, gancio, report
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()


def _login(client: TestClient, login: str, password: str) -> Any:
    form = {"grant_type": "password", "client_id": "self", "username": login, "password": password}
    return client.post("/oauth/login", data=form)


def _admin(client: TestClient, gancio: GancioFixture) -> dict[str, str]:
    admin = next(u for u in gancio.expected["users"] if u["role"] == "admin")
    answer = _login(client, admin["login"], admin["password"])
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_every_table_is_read_and_imported(imported):
    _, gancio, report = imported
    counts = gancio.expected["row_counts"]
    for table in ("users", "places", "tags", "events", "event_tags", "collections", "filters"):
        assert report.tables[table].read == counts[table], table
        assert report.tables[table].imported == counts[table], table
        assert report.tables[table].skipped == [], table
    assert report.tables["announcements"].imported == 2
    assert report.tables["messages"].imported == 1
    assert report.tables["oauth_clients"].imported == 1  # `self` is Piazza's own
    assert report.tables["oauth_tokens"].imported == 2  # the third-party ones; web logins are skipped
    assert {reason for _, reason in report.tables["oauth_tokens"].skipped} == {
        "a web login of Gancio's own client: the user logs in again"
    }
    assert report.files_copied == 8 and report.files_missing == []  # 7 event images and the logo
    assert report.warnings == []  # same base URL


def test_events_are_listed_as_gancio_listed_them(imported):
    client, gancio, _ = imported
    snapshots = gancio.expected["api_snapshots"]
    window = snapshots["window"]
    params = {"start": window["start"], "end": window["end"]}
    listed = client.get("/api/events", params={**params, "show_recurrent": "false"}).json()
    assert [e["id"] for e in listed] == snapshots["events_without_recurrent"]
    listed = client.get("/api/events", params={**params, "show_recurrent": "true"}).json()
    assert [e["id"] for e in listed] == snapshots["events_with_recurrent"]


def test_every_event_keeps_its_id_slug_times_place_tags_and_media(imported):
    client, gancio, _ = imported
    hidden = set(gancio.expected["hidden_event_ids"])
    for expected in gancio.expected["events"]:
        answer = client.get(f"/api/event/detail/{expected['slug'] or expected['id']}")
        if expected["id"] in hidden or not expected["is_visible"]:
            assert answer.status_code == 404, expected["id"]
            continue
        assert answer.status_code == 200, expected["id"]
        event = answer.json()
        assert event["id"] == expected["id"]
        assert event["slug"] == expected["slug"]
        assert event["title"] == expected["title"]
        assert (event["start_datetime"], event["end_datetime"]) == (
            expected["start_datetime"],
            expected["end_datetime"],
        )
        assert event["multidate"] == bool(expected["multidate"])
        assert event["place"]["id"] == expected["place_id"]
        assert event["place"]["name"] == expected["place_name"]
        assert sorted(event["tags"]) == expected["tags"]
        assert event["parentId"] == expected["parent_id"]
        assert event["recurrent"] == expected["recurrent"]
        locations = expected["online_locations"]
        assert event["online_locations"] == (locations if isinstance(locations, list) else [])
        assert [m["url"] for m in event["media"]] == [m["url"] for m in expected["media"]]
        assert [m.get("focalpoint") for m in event["media"]] == [
            m.get("focalpoint") for m in expected["media"]
        ]
        assert event["description"] == expected["description"]
        # By id as well, for links made when there was no slug.
        assert client.get(f"/api/event/detail/{expected['id']}").json()["id"] == expected["id"]


def test_hidden_events_and_owners_survive(imported, db_of):
    _, gancio, _ = imported
    with db_of(imported).session(write=False) as db:
        rows = {row.id: row for row in db.execute(select(Event.id, Event.is_visible, Event.user_id))}
    for expected in gancio.expected["events"]:
        assert rows[expected["id"]].is_visible == expected["is_visible"], expected["id"]
        assert rows[expected["id"]].user_id == expected["user_id"], expected["id"]
    assert 28 not in rows


def test_places_and_tags_answer_as_gancio(imported):
    client, gancio, _ = imported
    admin = _admin(client, gancio)
    snapshots = gancio.expected["api_snapshots"]
    places = client.get("/api/places", headers=admin).json()
    assert sorted((p["id"], p["name"]) for p in places) == sorted(
        (p["id"], p["name"]) for p in snapshots["places_admin"]
    )
    for expected in gancio.expected["places"]:
        place = client.get(f"/api/place/{expected['id']}").json()
        place = place.get("place", place)
        if expected.get("latitude") is not None:
            assert place["latitude"] == pytest.approx(expected["latitude"], abs=1e-4)
            assert place["longitude"] == pytest.approx(expected["longitude"], abs=1e-4)
    tags = client.get("/api/tags", headers=admin).json()
    assert sorted((t["tag"], int(t["count"])) for t in tags) == sorted(
        (t["tag"], int(t["count"])) for t in snapshots["tags_admin"]
    )


def test_collections_select_the_same_events(imported):
    client, gancio, _ = imported
    window = gancio.expected["api_snapshots"]["window"]
    collections = client.get("/api/collections", params={"withFilters": "true"}).json()
    expected_collections = gancio.expected["api_snapshots"]["collections_with_filters"]
    assert [(c["id"], c["name"], c["isTop"], c["sortIndex"]) for c in collections] == [
        (c["id"], c["name"], c["isTop"], c["sortIndex"]) for c in expected_collections
    ]
    for got, want in zip(collections, expected_collections, strict=True):
        shape = ("id", "negate", "tags", "places", "actors")
        assert sorted(({k: f[k] for k in shape} for f in got["filters"]), key=lambda f: f["id"]) == sorted(
            ({k: f[k] for k in shape} for f in want["filters"]), key=lambda f: f["id"]
        )
    for expected in gancio.expected["collections"]:
        events = client.get(
            f"/api/collections/{expected['name']}", params={"start_at": window["start"]}
        ).json()
        in_window = [e["id"] for e in events if e["start_datetime"] <= window["end"]]
        assert in_window == expected["events_in_window"], expected["name"]


def test_settings_are_carried_over(imported):
    client, gancio, _ = imported
    settings = client.get("/api/settings", headers=_admin(client, gancio)).json()
    for key, value in gancio.expected["settings_changed"].items():
        if key == "smtp":
            assert settings["smtp"]["host"] == value["host"]
            assert settings["smtp"]["auth"]["user"] == value["auth"]["user"]
            assert value["auth"]["pass"] not in str(settings)  # a secret, never served
        elif key == "about":
            assert "onclick" not in settings["about"] and "Barrio Sur" in settings["about"]
        elif key == "logo":
            assert settings["logo"] == "logo.png"
        else:
            assert settings[key] == value, key
    assert settings["instance_name"] == "relay"
    assert client.get("/logo.png").status_code == 200


def test_key_pair_is_kept(imported, db_of):
    _, gancio, _ = imported
    generated = gancio.expected["settings_generated"]
    with db_of(imported).session(write=False) as db:
        key = db.scalars(select(InstanceKey)).one()
    assert key.public_key_pem == generated["publicKey"]["value"]
    assert key.private_key_pem == generated["privateKey"]["value"]


def test_feeds_answer(imported):
    client, gancio, _ = imported
    titles = [e["title"] for e in gancio.expected["events"] if e["is_visible"] and e["parent_id"] is None]
    rss = client.get("/feed/rss")
    assert rss.status_code == 200 and "Agenda Barrio Sur" in rss.text
    ics = client.get("/feed/ics")
    assert ics.status_code == 200 and "BEGIN:VCALENDAR" in ics.text
    assert any(title in rss.text for title in titles)


def test_every_user_logs_in_with_the_gancio_password(imported, db_of):
    client, gancio, _ = imported
    for user in gancio.expected["users"]:
        answer = _login(client, user["login"], user["password"])
        if user["is_active"]:
            assert answer.status_code == 200, (user["login"], answer.text)
        else:
            assert answer.status_code != 200, user["login"]
    with db_of(imported).session(write=False) as db:
        hashes = {row.id: row.password for row in db.execute(select(User.id, User.password))}
    for user in gancio.expected["users"]:
        assert hashes[user["id"]].startswith("$argon2id$" if user["is_active"] else "$2a$"), user["id"]
        # and the upgraded hash keeps working
        if user["is_active"]:
            assert _login(client, user["login"], user["password"]).status_code == 200


def test_the_app_tokens_keep_writing_events_as_their_users(imported, db_of):
    client, gancio, _ = imported
    logins = {u["login"]: u["id"] for u in gancio.expected["users"]}
    third_party = [t for t in gancio.expected["oauth_tokens"] if t["third_party"]]
    assert len(third_party) == 2
    body = {"title": "Después de la mudanza", "start_datetime": 1798000000, "place_id": 1, "tags": ["Feria"]}
    created_ids = []
    for token in third_party:
        created = client.post(
            "/api/event", json=body, headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert created.status_code == 200, created.text
        created_ids.append((created.json()["id"], logins[token["user_login"]]))
    assert created_ids[0][0] == 52  # the next id after the largest imported one
    with db_of(imported).session(write=False) as db:
        for event_id, user_id in created_ids:
            assert db.get(Event, event_id).user_id == user_id
    for token in gancio.expected["oauth_tokens"]:
        if not token["third_party"]:  # web logins of Gancio's own client: the user logs in again
            refused = client.post(
                "/api/event", json=body, headers={"Authorization": f"Bearer {token['access_token']}"}
            )
            assert refused.status_code == 401


def test_media_files_are_served_under_their_names(imported):
    client, gancio, _ = imported
    names = {m["url"] for e in gancio.expected["events"] for m in e["media"]}
    assert len(names) == 7
    for name in names:
        main = client.get(f"/media/{name}")
        assert main.status_code == 200 and main.content == (gancio.media / name).read_bytes()
        assert client.get(f"/media/thumb/{name}").status_code == 200


def test_announcements_and_messages(imported, db_of):
    client, gancio, _ = imported
    admin = _admin(client, gancio)
    announcements = client.get("/api/announcements", headers=admin).json()
    assert [(a["id"], a["title"], a["visible"]) for a in announcements] == [
        (a["id"], a["title"], a["visible"]) for a in gancio.expected["announcements"]
    ]
    assert all(
        "script" not in a["announcement"] and "onmouseover" not in a["announcement"] for a in announcements
    )
    messages = client.get("/api/event/messages/18", headers=admin)
    assert messages.status_code == 200
    assert [m["message"] for m in messages.json()] == [m["message"] for m in gancio.expected["messages"]]


def test_the_source_refuses_writes(gancio):
    """The importer's own connection cannot change the Gancio database, whatever it sends."""
    from sqlalchemy.exc import SQLAlchemyError

    from piazza.importer.source import open_source

    source = open_source(gancio.source)
    try:
        assert source.count("events") == 50
        with pytest.raises(SQLAlchemyError):
            source.connection.exec_driver_sql("DELETE FROM announcements")
    finally:
        source.close()
    source = open_source(gancio.source)
    try:
        assert source.count("announcements") == 2
    finally:
        source.close()
