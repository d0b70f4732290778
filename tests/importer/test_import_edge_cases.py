"""What real Gancio databases hold beyond the fixtures (gancio-import.md §9): federation rows, orphans,
NULLs and old encodings, pages (1.24+). Each is written into a copy of the SQLite fixture, imported,
and checked in the rows and in the report's reasons."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from piazza.accounts.models import User
from piazza.app import create_app
from piazza.events.models import Event
from piazza.federation.models import Actor, Instance, Resource
from piazza.instance.models import Page
from piazza.moderation.models import ModerationMessage
from piazza.oauth.tokens import digest
from tests.importer.conftest import FIXTURES, GancioFixture, run_import

STAMP = "2026-12-01 19:30:00.000 +00:00"
ACTOR = "https://mastodon.example.net/users/vecina"
SOURCE_ACTOR = "https://otra.example.org/federation/u/relay"
NOTE = {
    "type": "Note",
    "content": "<p>¡Voy!</p><script>alert(1)</script>",
    "id": "https://mastodon.example.net/n/1",
}


def _edit(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO instances (domain, name, blocked, data, createdAt,"
            " updatedAt) VALUES (?, ?, ?, ?, ?, ?)",
            ("mastodon.example.net", "Mastodon", 0, '{"software": {"name": "mastodon"}}', STAMP, STAMP),
        )
        conn.execute(
            "INSERT INTO instances (domain, name, blocked, data, createdAt,"
            " updatedAt) VALUES (?, ?, ?, ?, ?, ?)",
            ("otra.example.org:8443", None, 1, None, STAMP, STAMP),
        )
        actors = [
            (ACTOR, json.dumps({"inbox": ACTOR + "/inbox"}), "mastodon.example.net", 1, None, None, None),
            (SOURCE_ACTOR, "{}", "otra.example.org:8443", 0, 1, 1, 1),
            ("https://gone.example.com/u/x", "{}", "gone.example.com", 1, 0, 0, 0),  # its instance is gone
        ]
        conn.executemany(
            "INSERT INTO ap_users (ap_id, object, instanceDomain, follower, following, trusted, blocked,"
            " createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*actor, STAMP, STAMP) for actor in actors],
        )
        # A remote event with its ap_id, likes with a duplicate, a bare-string online location and text
        # digits for its start; a legacy image_path without media; a double-encoded recurrence.
        conn.execute(
            "INSERT INTO events (id, title, slug, description, start_datetime, is_visible, likes, boost,"
            " placeId, online_locations, ap_id, apUserApId, ap_object, createdAt, updatedAt)"
            " VALUES (60, 'Remoto', 'remoto', '', '1797000000', 1, ?, '[]', 1, ?, ?, ?, ?, ?, ?)",
            (
                json.dumps([ACTOR, ACTOR]),
                "https://meet.example.org/x",
                "https://otra.example.org/federation/m/7",
                SOURCE_ACTOR,
                '{"type": "Event"}',
                STAMP,
                STAMP,
            ),
        )
        conn.execute(
            "INSERT INTO events (id, title, slug, start_datetime, is_visible, image_path, placeId, recurrent,"
            " createdAt, updatedAt) VALUES (61, 'Viejo', 'viejo', 1797000000, 1, 'viejo.jpg', 1, ?, ?, ?)",
            (json.dumps(json.dumps({"frequency": "2m"})), STAMP, STAMP),
        )
        conn.execute(  # an event whose remote actor is gone
            "INSERT INTO events (id, title, start_datetime, apUserApId, createdAt, updatedAt)"
            " VALUES (62, 'Huérfano', 1797000000, 'https://nadie.example/u', ?, ?)",
            (STAMP, STAMP),
        )
        conn.execute(
            "INSERT INTO events (id, title, start_datetime, createdAt, updatedAt)"
            " VALUES (63, 'x', 'mañana', ?, ?)",
            (STAMP, STAMP),
        )
        conn.execute(
            "INSERT INTO resources (id, activitypub_id, eventId, data, hidden,"
            " apUserApId, createdAt, updatedAt)"
            " VALUES (1, ?, 60, ?, 0, ?, ?, ?)",
            (NOTE["id"], json.dumps(NOTE), ACTOR, STAMP, STAMP),
        )
        conn.execute(
            "INSERT INTO resources (id, activitypub_id, eventId, data, hidden,"
            " apUserApId, createdAt, updatedAt)"
            " VALUES (2, 'https://mastodon.example.net/n/2', NULL, '{}', 1, ?, ?, ?)",
            (ACTOR, STAMP, STAMP),
        )
        conn.execute(  # a media name that would walk out of the uploads folder
            "INSERT INTO events (id, title, start_datetime, media, placeId, createdAt, updatedAt)"
            " VALUES (64, 'Ruta', 1797000000, ?, 1, ?, ?)",
            (json.dumps([{"url": "../config.json"}]), STAMP, STAMP),
        )
        # Orphans: a filter without its collection, a message without its event, a link to a missing tag.
        conn.execute(
            "INSERT INTO filters (id, tags, places, collectionId, actors, negate)"
            " VALUES (9, NULL, NULL, NULL, NULL, NULL)"
        )
        conn.execute(
            "INSERT INTO messages (id, message, eventId, author, is_author_visible, createdAt, updatedAt)"
            " VALUES (2, 'hola', NULL, 'REGISTERED', 0, ?, ?)",
            (STAMP, STAMP),
        )
        conn.execute(
            "INSERT INTO messages (id, message, eventId, author, is_author_visible, createdAt, updatedAt)"
            " VALUES (3, 'un reporte', 5, 'REGISTERED', 0, ?, ?)",
            (STAMP, STAMP),
        )
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(
            'INSERT INTO event_tags ("eventId", "tagTag", createdAt, updatedAt)'
            ' VALUES (1, "no-existe", ?, ?)',
            (STAMP, STAMP),
        )
        # A pending invitation, and a login that differs from another only in case.
        conn.execute("UPDATE users SET recover_code = 'ABCDEF0123456789abcdef0123456789' WHERE id = 4")
        conn.execute(
            "INSERT INTO users (id, email, password, is_active, role, settings, createdAt, updatedAt)"
            " VALUES (5, 'COORDINACION', NULL, 1, 'user', NULL, ?, ?)",
            (STAMP, STAMP),
        )
        conn.execute(
            "CREATE TABLE pages (id INTEGER PRIMARY KEY, title VARCHAR(255),"
            " content TEXT, visible TINYINT(1),"
            " slug VARCHAR(255) UNIQUE, createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)"
        )
        conn.execute(
            "INSERT INTO pages VALUES (1, 'Quiénes somos', ?, 1, 'quienes-somos', ?, ?)",
            ('<p onclick="x()">Somos</p>', STAMP, STAMP),
        )
    conn.close()


@pytest.fixture
def imported(tmp_path: Path, make_config) -> Iterator[tuple[FastAPI, Any]]:
    from tests.conftest import empty_database

    copy = tmp_path / "gancio.sqlite"
    shutil.copyfile(FIXTURES / "sqlite" / "gancio.sqlite", copy)
    _edit(copy)
    expected = json.loads((FIXTURES / "sqlite" / "expected.json").read_text(encoding="utf-8"))
    fixture = GancioFixture(
        "sqlite", str(copy), FIXTURES / "sqlite" / "uploads", expected, expected["fixture"]["baseurl"]
    )
    application = create_app(make_config(base_url=fixture.base_url))
    try:
        yield application, run_import(application, fixture)
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()


def _reasons(report: Any, table: str) -> dict[str, str]:
    return dict(report.tables[table].skipped)


def test_federation_rows_come_over(imported):
    app, report = imported
    with app.state.db.session(write=False) as db:
        instances = {i.domain: i for i in db.scalars(select(Instance))}
        actors = {a.ap_id: a for a in db.scalars(select(Actor))}
        resources = list(db.scalars(select(Resource)))
        remote = db.get(Event, 60)
    assert set(instances) == {"mastodon.example.net", "otra.example.org:8443"}
    assert instances["otra.example.org:8443"].blocked and not instances["mastodon.example.net"].blocked
    assert actors[ACTOR].follower and actors[ACTOR].object == {"inbox": ACTOR + "/inbox"}
    assert not (actors[ACTOR].trusted or actors[ACTOR].following or actors[ACTOR].blocked)  # NULL flags
    assert actors[SOURCE_ACTOR].trusted and actors[SOURCE_ACTOR].following and actors[SOURCE_ACTOR].blocked
    assert "https://gone.example.com/u/x" in _reasons(report, "ap_users")
    assert remote.ap_id == "https://otra.example.org/federation/m/7"
    assert remote.ap_user_ap_id == SOURCE_ACTOR and remote.ap_object == {"type": "Event"}
    assert remote.likes == [ACTOR]  # de-duplicated
    assert remote.online_locations == ["https://meet.example.org/x"]
    assert remote.start_datetime == 1797000000  # text digits read as a number
    assert [r.id for r in resources] == [1]
    assert "script" not in resources[0].data["content"] and "¡Voy!" in resources[0].data["content"]
    assert _reasons(report, "resources") == {"2": "its event is gone"}


def test_orphans_and_unreadable_rows_are_skipped_with_their_reason(imported):
    app, report = imported
    events = _reasons(report, "events")
    assert events["62"] == "a federated event whose actor is not in ap_users"
    assert "63" in events and "integer" in events["63"]
    assert _reasons(report, "filters") == {"9": "its collection is gone"}
    assert _reasons(report, "messages") == {"2": "its event is gone"}
    assert _reasons(report, "event_tags") == {"1/no-existe": "its tag is not imported"}
    users = _reasons(report, "users")
    assert "differs only in case from user 1" in users["5"]
    with app.state.db.session(write=False) as db:
        report_message = db.get(ModerationMessage, 3)
        assert report_message is not None and report_message.author == "ANON"  # REGISTERED readers
        old = db.get(Event, 61)
        assert old.media == [{"url": "viejo.jpg"}]  # from image_path
        assert old.recurrent is None  # `2m` is not a rule Piazza repeats: a one-off event
        pending = db.get(User, 4)
        assert pending.recover_code == digest("abcdef0123456789abcdef0123456789")
        assert pending.recover_code_expires_at is not None
        assert db.get(User, 3).email == "vecino.sur@barriosur.example.org"
    assert "viejo.jpg" in report.files_missing
    with app.state.db.session(write=False) as db:
        assert db.get(Event, 64).media == []
    assert any("Event 64's image name '../config.json' was dropped" in note for note in report.notes)
    assert not (app.state.config.media_dir / "config.json").exists()
    assert any("Event 61's recurrence" in note for note in report.notes)


def test_pages_come_over_sanitized(imported):
    app, _ = imported
    with app.state.db.session(write=False) as db:
        page = db.scalars(select(Page)).one()
    assert (page.id, page.slug, page.title, page.visible) == (1, "quienes-somos", "Quiénes somos", True)
    assert page.content == "<p>Somos</p>"
    with TestClient(app) as client:
        assert client.get("/p/quienes-somos").status_code == 200
