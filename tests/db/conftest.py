"""Fixtures of the storage tests."""

from __future__ import annotations

import sqlite3
import time

import pytest

from piazza.db import Database


@pytest.fixture
def fsyncs(db, is_postgres, monkeypatch):
    """Each fsync of the WAL, as the set of user emails committed when it began (read from the file by a
    connection of its own); slowed down so that writers pile up behind it."""
    if is_postgres:
        pytest.skip("SQLite's WAL")
    seen: list[set[str]] = []
    real = db.wal_sync._fsync_wal
    observer = sqlite3.connect(db.url.database, check_same_thread=False)

    def observed() -> None:
        seen.append({row[0] for row in observer.execute("SELECT email FROM users")})
        time.sleep(0.05)
        real()

    monkeypatch.setattr(db.wal_sync, "_fsync_wal", observed)
    yield seen
    observer.close()


@pytest.fixture
def other_worker(db, is_postgres):
    """Another Database on the same file stands for another worker: flock locks are per open file."""
    if is_postgres:
        pytest.skip("SQLite's writer")
    worker = Database(db.url.render_as_string(hide_password=False))
    yield worker
    worker.dispose()
