"""Where rate-limit counters live: the database (the default) or Redis (`PIAZZA_REDIS_URL`).

Either way the counters are shared by every app node, so two nodes on one PostgreSQL (or one Redis)
count a client's requests together. Windows are fixed: a counter is named by its key and the unix
second its window started, and it disappears once that window is over.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from piazza.db import Database
from piazza.limits.models import RateLimitCounter

if TYPE_CHECKING:
    import redis.asyncio

# Old windows are deleted at most this often per process, in the transaction of a counted request.
CLEANUP_EVERY_SECONDS = 60


class CounterStorage(Protocol):
    async def increment(self, key: str, window_start: int, window: int, amount: int = 1) -> int:
        """Add `amount` to the counter of `key` in the window that starts at `window_start` and lasts
        `window` seconds; return the new count. A negative amount gives a count back."""
        ...

    async def get(self, key: str, window_start: int) -> int:
        """The count of `key` in that window, 0 when nothing was counted."""
        ...

    async def close(self) -> None: ...


class DatabaseCounters:
    """Counters in the `rate_limit_counters` table, incremented by one atomic upsert.

    `INSERT ... ON CONFLICT DO UPDATE SET count = count + n RETURNING count` is one statement on both
    SQLite (3.35+) and PostgreSQL, so concurrent requests on any number of nodes never lose a count.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._insert = postgresql.insert if not database.is_sqlite else sqlite.insert
        self._next_cleanup = 0.0

    async def increment(self, key: str, window_start: int, window: int, amount: int = 1) -> int:
        return await self.database.write(self._increment, key, window_start, window, amount)

    async def get(self, key: str, window_start: int) -> int:
        return await self.database.read(self._get, key, window_start)

    async def close(self) -> None:
        return None

    def _increment(self, session: Session, key: str, window_start: int, window: int, amount: int) -> int:
        now = time.time()
        # Two threads may both clean up now and then; harmless, since only finished windows are deleted.
        if now >= self._next_cleanup:
            self._next_cleanup = now + CLEANUP_EVERY_SECONDS
            session.execute(delete(RateLimitCounter).where(RateLimitCounter.expires_at < int(now)))
        table = cast(Table, RateLimitCounter.__table__)
        statement = (
            self._insert(table)
            .values(key=key, window_start=window_start, count=amount, expires_at=window_start + window)
            .on_conflict_do_update(
                index_elements=[table.c.key, table.c.window_start],
                set_={"count": table.c.count + amount},
            )
            .returning(table.c.count)
        )
        return int(session.execute(statement).scalar_one())

    def _get(self, session: Session, key: str, window_start: int) -> int:
        count = session.execute(
            select(RateLimitCounter.count).where(
                RateLimitCounter.key == key, RateLimitCounter.window_start == window_start
            )
        ).scalar_one_or_none()
        return count or 0


class RedisCounters:
    """Counters in Redis: INCRBY and EXPIREAT in one MULTI/EXEC pipeline, so no key outlives its window."""

    def __init__(self, url: str, *, prefix: str = "piazza:ratelimit:") -> None:
        import redis.asyncio

        self.redis: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        self.prefix = prefix

    def _name(self, key: str, window_start: int) -> str:
        return f"{self.prefix}{key}:{window_start}"

    async def increment(self, key: str, window_start: int, window: int, amount: int = 1) -> int:
        name = self._name(key, window_start)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(name, amount)
            # Expire when the window ends, plus a second for clocks that disagree a little between nodes.
            pipe.expireat(name, window_start + window + 1)
            count, _ = await pipe.execute()
        return int(count)

    async def get(self, key: str, window_start: int) -> int:
        value = await self.redis.get(self._name(key, window_start))
        return int(value) if value is not None else 0

    async def close(self) -> None:
        await self.redis.aclose()
