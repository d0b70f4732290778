"""The backfills of migration 0011_event_hardening on rows written before it (issue 15)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from piazza.db.migrate import alembic_config, upgrade
from tests.conftest import _postgres_database

REVISION = "0011_event_hardening"


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    admin_url = os.environ.get("PIAZZA_TEST_DATABASE_URL")
    if admin_url:
        yield from _postgres_database(admin_url)
    else:
        yield f"sqlite:///{tmp_path / 'before.sqlite3'}"


def _insert_event(conn, event_id, slug, *, visible=True, user_id=None, place_id=None, online="[]"):
    conn.execute(
        text(
            "INSERT INTO events (id, title, slug, description, start_datetime, media, is_visible, likes,"
            " boost, online_locations, place_id, user_id, created_at, updated_at) VALUES (:id, 't', :slug,"
            " '', 1, '[]', :visible, '[]', '[]', :online, :place_id, :user_id, :now, :now)"
        ),
        {
            "id": event_id,
            "slug": slug,
            "visible": visible,
            "online": online,
            "place_id": place_id,
            "user_id": user_id,
            "now": "2026-01-01 00:00:00",
        },
    )


def _insert_place(conn, place_id):
    conn.execute(
        text(
            "INSERT INTO places (id, name, address, created_at, updated_at)"
            " VALUES (:id, :name, 'a', :now, :now)"
        ),
        {"id": place_id, "name": f"place {place_id}", "now": "2026-01-01 00:00:00"},
    )


def test_the_migration_renames_digit_slugs_marks_planted_places_and_drops_unsafe_links(scratch_url):
    before = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision(REVISION).down_revision
    upgrade(scratch_url, str(before))
    engine = create_engine(scratch_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, role, is_active, settings, created_at, updated_at)"
                " VALUES (1, 'a@example.org', 'user', true, '[]', :now, :now)"
            ),
            {"now": "2026-01-01 00:00:00"},
        )
        for place_id in (1, 2, 3, 4):
            _insert_place(conn, place_id)
        _insert_event(conn, 1, "4", place_id=1)
        _insert_event(conn, 2, "event-4", place_id=2, visible=False, user_id=1)  # a hidden own event
        _insert_event(conn, 3, "2026", place_id=3, visible=False)  # an anonymous submission
        _insert_event(conn, 4, "concert", place_id=4, visible=False)  # its place also used by a visible one
        _insert_event(conn, 5, "concert-1", place_id=4)
        _insert_event(conn, 6, "links", online='["javascript:alert(1)", "https://meet.example/a", "room 4",'
                      ' " DATA:text/html,x", "http://b.example"]')  # fmt: skip
    engine.dispose()

    upgrade(scratch_url, REVISION)

    engine = create_engine(scratch_url)
    with engine.connect() as conn:
        slugs = dict(conn.execute(text("SELECT id, slug FROM events")).all())
        pending = dict(conn.execute(text("SELECT id, pending FROM places")).all())
        hidden = set(conn.execute(text("SELECT hidden_by_moderator FROM events")).scalars())
        online = conn.execute(text("SELECT online_locations FROM events WHERE id = 6")).scalar_one()
    engine.dispose()
    assert slugs == {1: "event-4-1", 2: "event-4", 3: "event-2026", 4: "concert", 5: "concert-1", 6: "links"}
    assert {place_id: bool(value) for place_id, value in pending.items()} == {
        1: False,
        2: False,
        3: True,
        4: False,
    }
    assert hidden == {False}
    if isinstance(online, str):  # SQLite gives the JSON text
        import json

        online = json.loads(online)
    assert online == ["https://meet.example/a", "room 4", "http://b.example"]
