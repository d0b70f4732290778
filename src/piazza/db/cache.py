"""A per-process cache of small reads (the caller behind a bearer token, a user's row), kept only while
the database has not changed.

On SQLite, `PRAGMA data_version` on a connection of the cache's own changes whenever any other
connection, in this process or another worker's, commits to the database file (sqlite.org/pragma.html
#pragma_data_version). An entry is therefore reused only while that number is still the one it was
read under, and for at most `ttl` seconds: a revocation, a role change or a deactivation committed by
any worker is seen by the very next request on every worker, with no list of what to drop. The check
reads SQLite's shared WAL index, a few microseconds, so it runs on the event loop.

On PostgreSQL another node's commit cannot be seen without asking the server, which is the lookup the
cache would save, so there the cache is off and every request reads.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from piazza.db.engine import Database

# Beyond this many entries the cache starts over: a bound on memory whatever the number of tokens.
MAX_ENTRIES = 10_000


class ReadCache:
    def __init__(self, database: Database, *, ttl: float) -> None:
        path = database.url.database if database.is_sqlite else None
        self.enabled = ttl > 0 and bool(path) and path != ":memory:"
        self.ttl = ttl
        self._path = path
        self._entries: dict[Hashable, tuple[int, float, Any]] = {}
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def version(self) -> int | None:
        """The database's change counter now; None when the cache is off. Take it *before* reading
        what you will `put`, so that a commit made during the read leaves the entry already stale."""
        if not self.enabled or self._path is None:
            return None
        with self._lock:  # one connection, shared by the event loop and the thread pool
            if self._connection is None:
                # Never used to write: every commit seen from it is another connection's.
                self._connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            version: int = self._connection.execute("PRAGMA data_version").fetchone()[0]
            return version

    def get(self, key: Hashable) -> Any | None:
        """The value stored under `key` if the database is unchanged since and it is fresh, else None."""
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        version, stored_at, value = entry
        if time.monotonic() - stored_at > self.ttl or version != self.version():
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: Any, version: int | None) -> None:
        if version is None or not self.enabled:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (version, time.monotonic(), value)

    async def get_or_read(
        self, key: Hashable, read: Callable[..., Awaitable[Any]], fn: Callable[..., Any], *args: Any
    ) -> Any:
        """The value under `key`, or `await read(fn, *args)` (a Database read method) stored there."""
        value = self.get(key)
        if value is None:
            version = self.version()
            value = await read(fn, *args)
            self.put(key, value, version)
        return value

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        self._entries.clear()
