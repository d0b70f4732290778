"""Group commit on SQLite (db/engine.py WalSync): a write session returns only once an fsync of the WAL
that began after its commit has finished; concurrent writers share fsyncs; a write that changed no rows
needs none."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from piazza.accounts.models import User
from piazza.db import Database
from tests.factories import make_user


def add_user(db: Database, email: str) -> None:
    with db.session() as s:
        s.add(User(email=email, role="user", is_active=True, settings=[]))


def test_a_write_returns_after_an_fsync_that_saw_its_commit(db, fsyncs):
    add_user(db, "one@example.org")
    assert len(fsyncs) == 1
    assert "one@example.org" in fsyncs[0]


def test_a_write_session_that_changed_nothing_needs_no_fsync(db, fsyncs):
    with db.session() as s:
        s.scalars(select(User)).all()
    assert fsyncs == []


def test_concurrent_writers_share_fsyncs_and_none_returns_early(db, fsyncs):
    returned: dict[str, int] = {}  # email -> number of fsyncs begun when its write returned

    def writer(n: int) -> None:
        email = f"writer{n}@example.org"
        add_user(db, email)
        returned[email] = len(fsyncs)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(returned) == 12
    assert 1 <= len(fsyncs) < 12  # shared
    for email, begun in returned.items():
        # Some fsync that had begun before the write returned saw its row committed.
        assert any(email in committed for committed in fsyncs[:begun]), email


def test_a_rolled_back_write_needs_no_fsync(db, fsyncs):
    def write_then_fail() -> None:
        with db.session() as s:
            s.add(User(email="never@example.org", role="user", is_active=True, settings=[]))
            s.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert fsyncs == []
    make_user(db)
    assert len(fsyncs) == 1


def test_writers_of_other_processes_queue_on_the_write_lock(db, other_worker):
    done = threading.Event()

    def write() -> None:
        add_user(db, "queued@example.org")
        done.set()

    with other_worker.write_lock.held():
        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.3)  # waits for the other worker's transaction
    assert done.wait(10)
    thread.join()
