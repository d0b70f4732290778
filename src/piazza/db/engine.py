"""Engines and sessions.

Every request does its database work in one call to `Database.read` or `Database.write`: one hop to
another thread, one session, one transaction, committed when the function returns and rolled back when
it raises. Services receive that session and never open their own. `Database.read_small` is `read` for
the hot, bounded reads: on SQLite they run on the event loop without the hop.

SQLite allows one writer at a time. A pool of writers only makes them queue on the file lock (design.md
measured p99 of a second), so each process has a single write connection that starts its transactions
with BEGIN IMMEDIATE, and a separate pool of readers that WAL lets run beside it. The processes take
turns at a lock of their own (`WriteLock`), and in each turn a process' writer thread runs all the
writes queued in it meanwhile (`WriteQueue`).

Durability with group commit: an acknowledged write must survive a power loss, so its WAL frames must
reach the disk before the answer. SQLite's synchronous=FULL does that with one fsync per commit inside
the write lock (3 ms on a small VM's disk: at most ~300 writes a second, whatever the cores). Instead
the write connection commits with synchronous=NORMAL, releases the lock, and then `WalSync` makes the
commit durable with an fsync of the WAL file that covers every commit made before it began: writers
that commit while one fsync runs share the next one. A write session returns only after that, so no
caller is told "done" before its data is on disk; other connections may read it a moment earlier.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from piazza.db.text_guard import refuse_nul_text

P = ParamSpec("P")
R = TypeVar("R")

SQLITE_BUSY_TIMEOUT_MS = 10_000


class WalSync:
    """Group commit for SQLite's WAL: `after_commit()` returns once an fsync that began after the
    caller's commit has finished, and one fsync serves every commit made before it began."""

    def __init__(self, database_path: str) -> None:
        self.wal_path = database_path + "-wal"
        self._condition = threading.Condition()
        self._committed = 0  # commits announced so far (a ticket each)
        self._durable = 0  # tickets covered by a finished fsync
        self._syncing = False
        self._wrote = threading.local()  # set by the engine's commit event when rows changed

    def commit_wrote_rows(self) -> None:
        self._wrote.pending = True

    def after_commit(self) -> None:
        """Wait until this thread's last commit is on disk; at once if it changed no rows."""
        ticket = self.take_ticket()
        if ticket is not None:
            self.wait_durable(ticket)

    def take_ticket(self) -> int | None:
        """The ticket of this thread's last commit, for `wait_durable`; None if it changed no rows."""
        if not getattr(self._wrote, "pending", False):
            return None
        self._wrote.pending = False
        with self._condition:
            self._committed += 1
            return self._committed

    def wait_durable(self, ticket: int) -> None:
        """Return once an fsync that began after the commit of `ticket` has finished."""
        with self._condition:
            while self._durable < ticket:
                if self._syncing:
                    self._condition.wait()
                    continue
                self._syncing = True
                covers = self._committed  # every commit so far is already in the WAL file
                self._condition.release()
                try:
                    self._fsync_wal()
                finally:
                    self._condition.acquire()
                    self._syncing = False
                    self._condition.notify_all()
                self._durable = max(self._durable, covers)

    def _fsync_wal(self) -> None:
        # Opened afresh each time: SQLite deletes and recreates the WAL when its last connection closes
        # (after a checkpoint that synced the database file, so a missing WAL has nothing to lose).
        try:
            fd = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)


class WriteLock:
    """One writer at a time across the processes sharing a SQLite file, queued in the kernel.

    SQLite's own wait for its write lock polls with sleeps of 1, 2, 5 ... up to 100 ms, so under load
    one worker keeps winning the lock while the other sleeps (p99 of one to two seconds with two
    workers). `flock` wakes the next waiter as soon as the lock is released. Taken around each write
    transaction, it leaves BEGIN IMMEDIATE nothing to wait for, unless another program writes.
    """

    def __init__(self, database_path: str) -> None:
        self.path = database_path + "-writer.lock"
        self._thread_lock = threading.Lock()  # flock is per open file, shared by this process' threads
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class WriteQueue:
    """The write transactions of one process on SQLite, run by one thread, several per turn of the lock.

    The write lock passes between the workers for every transaction otherwise, and each pass costs more
    than the lock's hold: the next holder has to be woken and scheduled (the lock stood free a fifth of
    the time under load), and its connection finds the other process' commit and rereads its cached
    pages. Here the thread that takes the lock runs every write queued in this process meanwhile, up to
    MAX_BATCH, each in its own transaction (one failing rolls back alone), then gives the lock up. The
    callers are answered once the batch's commits are on disk (WalSync, from another thread, so that
    the next batch need not wait for the disk).
    """

    MAX_BATCH = 32

    def __init__(self, database: Database) -> None:
        self._database = database
        self._jobs: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._durability: ThreadPoolExecutor | None = None
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        future: Future[Any] = Future()
        # The caller's context (the request id in logs) goes with the job, as run_in_threadpool does.
        self._jobs.put(_WriteJob(fn, args, kwargs, contextvars.copy_context(), future))
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    # One thread waits for the disk; a wait covers every commit made before its fsync.
                    self._durability = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piazza-durable")
                    self._thread = threading.Thread(
                        target=self._serve, args=(self._durability,), name="piazza-writer", daemon=True
                    )
                    self._thread.start()
        return future

    def close(self) -> None:
        """Stop the threads once the queued writes are done; a later write starts them again."""
        with self._start_lock:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread.join(timeout=30)
                self._thread = None
            if self._durability is not None:
                self._durability.shutdown(wait=True)
                self._durability = None

    def _serve(self, durability: ThreadPoolExecutor) -> None:
        database = self._database
        assert database.write_lock is not None and database.wal_sync is not None  # noqa: S101
        while (job := self._jobs.get()) is not None:
            done: list[tuple[Future[Any], Any]] = []
            ticket = None
            try:
                with database.write_lock.held():
                    for ran in range(1, self.MAX_BATCH + 1):
                        if job.future.set_running_or_notify_cancel():
                            try:
                                result = job.context.run(database._in_write_session, job)
                            except BaseException as exc:  # noqa: BLE001  (the caller's to handle)
                                job.future.set_exception(exc)
                            else:
                                done.append((job.future, result))
                                ticket = database.wal_sync.take_ticket() or ticket
                        if ran == self.MAX_BATCH:
                            break
                        try:
                            job = self._jobs.get_nowait()
                        except queue.Empty:
                            break
                        if job is None:  # close(): finish this batch, then stop
                            self._jobs.put(None)
                            break
            except BaseException as exc:  # noqa: BLE001  (the lock itself failed, e.g. its file: no hang)
                # Only a job the batch did not run fails: one that committed is answered as done.
                if job is not None and not job.future.done() and all(f is not job.future for f, _ in done):
                    job.future.set_exception(exc)
            durability.submit(_answer_when_durable, database.wal_sync, ticket, done)


@dataclass(frozen=True)
class _WriteJob:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    context: contextvars.Context
    future: Future[Any]


def _answer_when_durable(wal_sync: WalSync, ticket: int | None, done: list[tuple[Future[Any], Any]]) -> None:
    try:
        if ticket is not None:
            wal_sync.wait_durable(ticket)
    except BaseException as exc:  # noqa: BLE001  (an fsync that failed: no caller may be told "done")
        for future, _ in done:
            future.set_exception(exc)
        return
    for future, result in done:
        future.set_result(result)


def _load_json(text: str) -> Any:
    """json.loads, with the empty list most rows hold (media, online_locations) read without parsing."""
    return [] if text == "[]" else json.loads(text)


def _sqlite_engine(
    url: str, *, writer: bool, pool_size: int, pool_timeout: float, wal_sync: WalSync | None = None
) -> Engine:
    engine = create_engine(
        url,
        pool_size=1 if writer else pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        json_deserializer=_load_json,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite.py "Serializable isolation").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # The writer's commits are made durable by WalSync after the lock is released (module docstring);
        # NORMAL still syncs around checkpoints, so the database file itself is never at risk.
        cursor.execute("PRAGMA synchronous=NORMAL" if writer else "PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
        if wal_sync is not None:
            conn.info["changes_at_begin"] = conn.connection.dbapi_connection.total_changes

    if wal_sync is not None:

        @event.listens_for(engine, "commit")
        def _on_commit(conn: Any) -> None:
            # SQLite counts the rows each connection changed: a transaction that changed none needs no
            # fsync (an empty one still costs a disk flush).
            if conn.connection.dbapi_connection.total_changes != conn.info.get("changes_at_begin"):
                wal_sync.commit_wrote_rows()

    return engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 8, pool_timeout: float = 30) -> None:
        """`pool_size` connections at most per engine (SQLite: for reads; the writer has one), kept open;
        a session beyond them waits up to `pool_timeout` seconds for one, then raises
        sqlalchemy.exc.TimeoutError (503 in the app)."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.wal_sync: WalSync | None = None
        self.write_lock: WriteLock | None = None
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                self.wal_sync = WalSync(self.url.database)
                self.write_lock = WriteLock(self.url.database)
            self.read_engine = _sqlite_engine(
                url, writer=False, pool_size=pool_size, pool_timeout=pool_timeout
            )
            self.write_engine = _sqlite_engine(
                url, writer=True, pool_size=1, pool_timeout=pool_timeout, wal_sync=self.wal_sync
            )
        else:
            # No overflow: an overflow connection is closed as soon as it is returned, so under load the
            # pool opened and closed a PostgreSQL connection (a server process) for one request in six,
            # which halved throughput and made a p99 of one second. Sessions beyond the pool wait for a
            # connection instead; the pool also bounds a node's connections (2 workers: 16).
            self.read_engine = self.write_engine = create_engine(
                url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout, pool_pre_ping=True
            )
        refuse_nul_text(self.read_engine)
        if self.write_engine is not self.read_engine:
            refuse_nul_text(self.write_engine)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_queue = WriteQueue(self) if self.write_lock is not None else None

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        maker = self._write_sessions if write else self._read_sessions
        locked = self.write_lock.held() if write and self.write_lock is not None else nullcontext()
        with locked, maker() as session, session.begin():
            yield session
        if write and self.wal_sync is not None:
            self.wal_sync.after_commit()  # the write connection is back in its pool: others commit meanwhile

    def run(self, fn: Callable[..., R], *args: Any, write: bool = True, **kwargs: Any) -> R:
        # Not typed with a ParamSpec: `write` may not come between P.args and P.kwargs.
        with self.session(write=write) as session:
            return fn(session, *args, **kwargs)

    async def read(self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(session, ...)` in the thread pool on a read connection."""
        # mypy cannot match a ParamSpec nested in another (fn's inside run_in_threadpool's); the public
        # signatures above are the checked ones.
        return await run_in_threadpool(self._run_read, fn, *args, **kwargs)  # type: ignore[arg-type]

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
        return await run_in_threadpool(self._run_read, fn, *args, **kwargs)  # type: ignore[arg-type]

    async def write(self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(session, ...)` in one write transaction: on SQLite by this process' writer thread
        (WriteQueue), elsewhere in the thread pool."""
        if self._write_queue is not None:
            return await asyncio.wrap_future(self._write_queue.submit(fn, args, kwargs))
        return await run_in_threadpool(self._run_write, fn, *args, **kwargs)  # type: ignore[arg-type]

    def _in_write_session(self, job: _WriteJob) -> Any:
        """One WriteQueue job in its own transaction; the caller holds the write lock and makes the
        commit durable."""
        with self._write_sessions() as session, session.begin():
            return job.fn(session, *job.args, **job.kwargs)

    def _run_read(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        with self.session(write=False) as session:
            return fn(session, *args, **kwargs)

    def _run_write(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        with self.session(write=True) as session:
            return fn(session, *args, **kwargs)

    def dispose(self) -> None:
        if self._write_queue is not None:
            self._write_queue.close()
        if self.write_lock is not None:
            self.write_lock.close()
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
