"""The writer thread of a process on SQLite (db/engine.py WriteQueue): the writes queued while another
worker holds the lock run in one turn of it, each in its own transaction, and their callers are answered
once their commits are on disk."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from piazza.accounts.models import User

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def add_user(session, email: str) -> tuple[str, str]:
    session.add(User(email=email, role="user", is_active=True, settings=[]))
    return threading.current_thread().name, request_id.get()


def add_then_fail(session, email: str) -> None:
    add_user(session, email)
    session.flush()
    raise ValueError("refused")


@pytest.fixture
def turns(db, is_postgres, monkeypatch):
    """How many times this process took the write lock."""
    if is_postgres:
        pytest.skip("SQLite's writer")
    count = [0]
    held = db.write_lock.held

    @contextmanager
    def counted():
        count[0] += 1
        with held():
            yield

    monkeypatch.setattr(db.write_lock, "held", counted)
    return count


def emails(db) -> set[str]:
    with db.session(write=False) as s:
        return set(s.scalars(select(User.email)))


def test_writes_queued_meanwhile_run_in_one_turn_of_the_lock(db, turns, other_worker, fsyncs):
    async def main():
        with other_worker.write_lock.held():
            pending = [asyncio.ensure_future(db.write(add_user, f"q{n}@example.org")) for n in range(10)]
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in pending)  # all wait for the other worker
        return await asyncio.gather(*pending)

    results = asyncio.run(main())
    assert {thread for thread, _ in results} == {"piazza-writer"}
    assert {f"q{n}@example.org" for n in range(10)} <= emails(db)
    assert turns[0] <= 2  # the first write may have taken the lock alone; the other nine share a turn
    # Every caller was answered after an fsync that saw its commit.
    assert any({f"q{n}@example.org" for n in range(10)} <= seen for seen in fsyncs)


def test_a_failing_write_in_a_batch_rolls_back_alone(db, other_worker):
    async def main():
        with other_worker.write_lock.held():
            before = asyncio.ensure_future(db.write(add_user, "before@example.org"))
            failing = asyncio.ensure_future(db.write(add_then_fail, "failing@example.org"))
            after = asyncio.ensure_future(db.write(add_user, "after@example.org"))
            await asyncio.sleep(0.2)
        return await asyncio.gather(before, failing, after, return_exceptions=True)

    before, failing, after = asyncio.run(main())
    assert isinstance(failing, ValueError)
    assert not isinstance(before, BaseException) and not isinstance(after, BaseException)
    stored = emails(db)
    assert {"before@example.org", "after@example.org"} <= stored
    assert "failing@example.org" not in stored


def test_a_write_returns_after_an_fsync_that_saw_its_commit(db, fsyncs):
    asyncio.run(db.write(add_user, "durable@example.org"))
    assert len(fsyncs) == 1
    assert "durable@example.org" in fsyncs[0]


def test_the_callers_context_goes_with_the_write(db):
    async def main():
        request_id.set("req-42")
        return await db.write(add_user, "context@example.org")

    _, seen = asyncio.run(main())
    assert seen == "req-42"


def test_dispose_stops_the_writer_thread(db, is_postgres):
    if is_postgres:
        pytest.skip("SQLite's writer")
    asyncio.run(db.write(add_user, "last@example.org"))
    writer = db._write_queue._thread
    assert writer is not None and writer.is_alive()
    db._write_queue.close()
    assert not writer.is_alive()
    assert "last@example.org" in emails(db)


def test_a_disposed_database_writes_again(db):
    """The app disposes of its Database at shutdown; a test (or a restarted lifespan) may use it again."""
    asyncio.run(db.write(add_user, "first@example.org"))
    db.dispose()
    asyncio.run(db.write(add_user, "second@example.org"))
    assert {"first@example.org", "second@example.org"} <= emails(db)


def test_a_write_lock_that_fails_fails_the_write_and_the_next_one_runs(db, is_postgres, monkeypatch):
    if is_postgres:
        pytest.skip("SQLite's writer")
    held = db.write_lock.held

    @contextmanager
    def broken():
        raise PermissionError("the lock file cannot be opened")
        yield

    monkeypatch.setattr(db.write_lock, "held", broken)
    with pytest.raises(PermissionError):
        asyncio.run(asyncio.wait_for(db.write(add_user, "refused@example.org"), 10))
    monkeypatch.setattr(db.write_lock, "held", held)
    asyncio.run(asyncio.wait_for(db.write(add_user, "fine@example.org"), 10))
    assert "fine@example.org" in emails(db) and "refused@example.org" not in emails(db)


def test_a_lock_that_fails_to_release_does_not_fail_the_writes_it_committed(db, is_postgres, monkeypatch):
    """Such a write is on disk: telling its caller it failed would invite a retry, and a duplicate."""
    if is_postgres:
        pytest.skip("SQLite's writer")
    held = db.write_lock.held

    @contextmanager
    def failing_release():
        with held():
            yield
        raise PermissionError("the lock could not be released")

    monkeypatch.setattr(db.write_lock, "held", failing_release)
    asyncio.run(asyncio.wait_for(db.write(add_user, "committed@example.org"), 10))
    assert "committed@example.org" in emails(db)
