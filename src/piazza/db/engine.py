"""Engines and sessions.

Every request does its database work in one call to `Database.read` or `Database.write`: one hop to
the thread pool, one session, one transaction, committed when the function returns and rolled back when
it raises. Services receive that session and never open their own. `Database.read_small` is `read` for
the hot, bounded reads: on SQLite they run on the event loop without the hop.

SQLite allows one writer at a time. A pool of writers only makes them queue on the file lock (design.md
measured p99 of a second), so each process has a single write connection that starts its transactions
with BEGIN IMMEDIATE, and a separate pool of readers that WAL lets run beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
R = TypeVar("R")

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=1 if writer else pool_size,
        max_overflow=0,
        pool_timeout=30,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite.py "Serializable isolation").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL is durable in WAL mode except for the last commits before a power loss; FULL keeps those
        # too, at a few hundred microseconds per commit. An acknowledged write must survive, so FULL.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, writer=False, pool_size=pool_size)
            self.write_engine = _sqlite_engine(url, writer=True, pool_size=1)
        else:
            self.read_engine = self.write_engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        maker = self._write_sessions if write else self._read_sessions
        with maker() as session, session.begin():
            yield session

    def run(
        self, fn: Callable[Concatenate[Session, P], R], *args: P.args, write: bool = True, **kwargs: P.kwargs
    ) -> R:
        with self.session(write=write) as session:
            return fn(session, *args, **kwargs)

    async def read(self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(session, ...)` in the thread pool on a read connection."""
        return await run_in_threadpool(self._run_read, fn, *args, **kwargs)

    async def read_small(
        self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Like `read`, for a small bounded read (an indexed lookup, a page of at most a few hundred
        rows). On SQLite it runs right here on the event loop: such a read takes a fraction of a
        millisecond and never waits on a lock in WAL mode, so the hop to the thread pool cost more than
        the read, and under load the threads' GIL hand-offs (every 5 ms) made the latency (p99 231 ms
        at 32 connections). On PostgreSQL it waits on the network, so it goes to the pool as `read`."""
        if self.is_sqlite:
            return self._run_read(fn, *args, **kwargs)
        return await run_in_threadpool(self._run_read, fn, *args, **kwargs)

    async def write(self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(session, ...)` in the thread pool in one write transaction."""
        return await run_in_threadpool(self._run_write, fn, *args, **kwargs)

    def _run_read(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        with self.session(write=False) as session:
            return fn(session, *args, **kwargs)

    def _run_write(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        with self.session(write=True) as session:
            return fn(session, *args, **kwargs)

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
