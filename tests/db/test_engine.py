from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
import sqlalchemy.exc
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite

from piazza.accounts.models import User
from piazza.db import Database, UTCDateTime
from tests.factories import make_user


def test_sqlite_pragmas_are_set(db, is_postgres):
    if is_postgres:
        pytest.skip("SQLite only")
    with db.session(write=False) as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == 10000
        assert s.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    with db.session() as s:
        # The writer commits with NORMAL; WalSync makes each commit durable before the session returns.
        assert s.execute(text("PRAGMA synchronous")).scalar() == 1


def test_a_failing_write_rolls_back_everything(db):
    def write_then_fail():
        with db.session() as s:
            s.add(User(email="half@example.org", role="user", is_active=True, settings=[]))
            s.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    with db.session(write=False) as s:
        assert s.query(User).filter_by(email="half@example.org").count() == 0


def test_created_at_reads_back_as_aware_utc(db):
    user = make_user(db)
    with db.session(write=False) as s:
        stored = s.get(User, user.id)
        assert stored.created_at.tzinfo is not None
        assert stored.created_at.utcoffset().total_seconds() == 0


def test_statistics_are_refreshed_for_the_planner(db, is_postgres):
    """`piazza serve` runs refresh_statistics at start: SQLite plans the feeds from them."""
    if is_postgres:
        pytest.skip("SQLite only")
    from piazza.db.migrate import refresh_statistics
    from tests.factories import make_event

    # The database outlives this test (rows are emptied between tests, statistics are not): the
    # statistics of three events made later plan tests scan `events`, so the ones found are put back.
    with db.session(write=False) as s:
        found = s.execute(text("SELECT tbl, idx, stat FROM sqlite_stat1")).all()
    author = make_user(db)
    for i in range(3):
        make_event(db, author, title=f"E{i}")
    try:
        refresh_statistics(db.url.render_as_string(hide_password=False))
        with db.session(write=False) as s:
            indexes = set(s.execute(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'events'")).scalars())
        assert {"ix_events_visible_parent_start", "ix_events_visible_parent_end"} <= indexes
    finally:
        with db.session() as s:
            s.execute(text("DELETE FROM sqlite_stat1"))
            for tbl, idx, stat in found:
                s.execute(
                    text("INSERT INTO sqlite_stat1 VALUES (:tbl, :idx, :stat)"),
                    {"tbl": tbl, "idx": idx, "stat": stat},
                )


def test_sessions_beyond_the_pool_wait_for_a_connection_instead_of_opening_more(db):
    """The pool keeps its connections and opens no others: on PostgreSQL an extra connection opened
    for one request and closed after it (a server process each time) halved the throughput."""
    small = Database(db.url.render_as_string(hide_password=False), pool_size=2, pool_timeout=0.2)
    opened = []
    event.listen(small.read_engine, "connect", lambda *_: opened.append(1))
    try:
        for _round in range(3):
            with ExitStack() as stack:
                for _ in range(2):
                    stack.enter_context(small.session(write=False)).execute(text("SELECT 1"))
                with pytest.raises(sqlalchemy.exc.TimeoutError), small.session(write=False) as third:
                    third.execute(text("SELECT 1"))
        assert len(opened) == 2  # the same two connections, every round
    finally:
        small.dispose()


def test_timestamps_read_back_as_aware_utc_from_either_database():
    read_sqlite = UTCDateTime().result_processor(sqlite.dialect(), None)
    # SQLAlchemy's text, and a server default's (no fraction)
    assert read_sqlite("2026-11-27 18:09:41.035123") == datetime(2026, 11, 27, 18, 9, 41, 35123, tzinfo=UTC)
    # the same text again is the same (immutable) value, not a second parse
    assert read_sqlite("2026-11-27 18:09:41.035123") is read_sqlite("2026-11-27 18:09:41.035123")
    assert read_sqlite("2026-11-27 18:09:41").tzinfo is UTC
    assert read_sqlite(None) is None
    read_postgres = UTCDateTime().result_processor(postgresql.psycopg.dialect(), None)
    naive = datetime(2026, 11, 27, 18, 9, 41, 35000)
    assert read_postgres(naive) == naive.replace(tzinfo=UTC)
    assert read_postgres(naive).tzinfo is UTC
