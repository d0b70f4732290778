"""Where rate-limit counters live: the database (the default) or Redis (`PIAZZA_REDIS_URL`).

Either way the counters are shared by every app node, so two nodes on one PostgreSQL (or one Redis)
count a client's requests together.

Windows slide (the sliding-window-counter approximation): a key holds one counter per fixed window of
`window` seconds, and a request is weighed against the count of the current window plus the previous
window's count times the part of the previous window still inside the last `window` seconds. A client
can therefore never get twice the limit through by sending it on both sides of a window's start, as
it could with fixed windows. The check and the count are one atomic step (one SQL statement, one Lua
script): a request is counted only when it fits, so concurrent requests can never pass a limit together,
and refused requests cost nothing of the budget.

When Redis does not answer, `FallbackCounters` counts in the database instead, so the limits never
switch off with Redis.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import BigInteger, Integer, Table, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from piazza.db import Database
from piazza.limits.models import RateLimitCounter

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger("piazza.limits")

# Old windows are deleted at most this often per process, in the transaction of a counted request.
CLEANUP_EVERY_SECONDS = 60
# A Redis that stopped answering must not hold requests for long: past this, the database counts.
REDIS_TIMEOUT_SECONDS = 2.0
# After Redis failed, the database counts alone for this long before Redis is tried again.
REDIS_RETRY_AFTER_SECONDS = 5.0


@dataclass(frozen=True)
class Hit:
    """The outcome of `CounterStorage.hit`: whether the amount was counted, and the counts of the current
    and the previous window as they stood after it (or, refused, as they stood)."""

    counted: bool
    current: int
    previous: int
    # The storage that counted, to give the count back to (FallbackCounters may have used either).
    storage: CounterStorage


def window_start(now: float, window: int) -> int:
    return int(now) // window * window


def previous_weight(now: float, window: int) -> float:
    """How much of the previous window is still inside the last `window` seconds: 1 at the start of the
    current window, 0 at its end."""
    return 1.0 - (now - window_start(now, window)) / window


def estimate(hit: Hit, now: float, window: int) -> float:
    return hit.current + hit.previous * previous_weight(now, window)


class CounterStorage(Protocol):
    async def hit(self, key: str, window: int, now: float, amount: int, limit: int) -> Hit:
        """Add `amount` (> 0) to `key`'s counter of the window holding `now`, but only if the sliding
        estimate stays within `limit`; with amount 0, only read the counts."""
        ...

    async def give_back(self, key: str, window_start: int, window: int, amount: int = 1) -> None:
        """Take `amount` off the counter of the window that starts at `window_start` (a reservation
        that turned out not to count)."""
        ...

    async def close(self) -> None: ...


class DatabaseCounters:
    """Counters in the `rate_limit_counters` table.

    The hit is one `INSERT ... SELECT ... WHERE fits ON CONFLICT DO UPDATE ... WHERE fits RETURNING`
    statement on both SQLite (3.35+) and PostgreSQL, where "fits" reads the previous window's counter in
    a subquery. PostgreSQL checks the DO UPDATE condition on the locked, latest version of the row, and
    SQLite runs one writer at a time, so concurrent requests on any number of nodes are counted in turn.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._insert = postgresql.insert if not database.is_sqlite else sqlite.insert
        self._next_cleanup = 0.0

    async def hit(self, key: str, window: int, now: float, amount: int, limit: int) -> Hit:
        if amount <= 0:
            current, previous = await self.database.read(self._counts, key, window, now)
            return Hit(False, current, previous, self)
        return await self.database.write(self._hit, key, window, now, amount, limit)

    async def give_back(self, key: str, window_start: int, window: int, amount: int = 1) -> None:
        await self.database.write(self._give_back, key, window_start, amount)

    async def close(self) -> None:
        return None

    def _counts(self, session: Session, key: str, window: int, now: float) -> tuple[int, int]:
        start = window_start(now, window)
        rows = session.execute(
            select(RateLimitCounter.window_start, RateLimitCounter.count).where(
                RateLimitCounter.key == key, RateLimitCounter.window_start.in_((start, start - window))
            )
        ).all()
        counts = {int(start_): int(count) for start_, count in rows}
        return counts.get(start, 0), counts.get(start - window, 0)

    def _hit(self, session: Session, key: str, window: int, now: float, amount: int, limit: int) -> Hit:
        if now >= self._next_cleanup:
            # Two threads may both clean up now and then; harmless, since only finished windows go.
            self._next_cleanup = now + CLEANUP_EVERY_SECONDS
            session.execute(delete(RateLimitCounter).where(RateLimitCounter.expires_at < int(now)))
        table = cast(Table, RateLimitCounter.__table__)
        start = window_start(now, window)
        previous = (
            select(table.c.count)
            .where(table.c.key == key, table.c.window_start == start - window)
            .scalar_subquery()
        )
        # What the current window may hold after this hit.
        room = literal(limit, Integer) - literal(previous_weight(now, window)) * func.coalesce(previous, 0)
        amount_ = literal(amount, Integer)
        # A window's counter is still read as the previous one during the next window.
        expires_at = start + 2 * window
        new_row = select(
            literal(key), literal(start, BigInteger), amount_, literal(expires_at, BigInteger)
        ).where(amount_ <= room)
        statement = (
            self._insert(table)
            .from_select(["key", "window_start", "count", "expires_at"], new_row)
            .on_conflict_do_update(
                index_elements=[table.c.key, table.c.window_start],
                set_={"count": table.c.count + amount},
                where=table.c.count + amount_ <= room,
            )
            .returning(table.c.count, previous)
        )
        row = session.execute(statement).first()
        if row is not None:
            return Hit(True, int(row[0]), int(row[1] or 0), self)
        current, previous_count = self._counts(session, key, window, now)
        return Hit(False, current, previous_count, self)

    def _give_back(self, session: Session, key: str, start: int, amount: int) -> None:
        session.execute(
            update(RateLimitCounter)
            .where(RateLimitCounter.key == key, RateLimitCounter.window_start == start)
            .values(count=RateLimitCounter.count - amount)
        )


# KEYS: the current and the previous window's counters. ARGV: amount, weight of the previous window,
# limit, expiry (unix seconds). Returns {counted (0/1), current, previous}.
_HIT_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local amount = tonumber(ARGV[1])
if amount <= 0 or current + amount + previous * tonumber(ARGV[2]) > tonumber(ARGV[3]) then
  return {0, current, previous}
end
current = redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return {1, current, previous}
"""

# Only an existing counter is given back to: an expired one stays gone rather than turning negative.
_GIVE_BACK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DECRBY', KEYS[1], ARGV[1])
end
return 0
"""


class RedisCounters:
    """Counters in Redis, one key per window, checked and counted by one Lua script."""

    def __init__(self, url: str, *, prefix: str = "piazza:ratelimit:") -> None:
        import redis.asyncio

        self.redis: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self.prefix = prefix
        self._hit_script: Any = self.redis.register_script(_HIT_SCRIPT)
        self._give_back_script: Any = self.redis.register_script(_GIVE_BACK_SCRIPT)

    def _name(self, key: str, window_start: int) -> str:
        # The braces make both windows of a key one hash slot, as a script on Redis Cluster needs.
        return f"{self.prefix}{{{key}}}:{window_start}"

    async def hit(self, key: str, window: int, now: float, amount: int, limit: int) -> Hit:
        start = window_start(now, window)
        # Expire once the window has served as the previous one, plus a second for clocks that
        # disagree a little between nodes.
        expires_at = start + 2 * window + 1
        counted, current, previous = await self._hit_script(
            keys=[self._name(key, start), self._name(key, start - window)],
            args=[amount, repr(previous_weight(now, window)), limit, expires_at],
        )
        return Hit(bool(counted), int(current), int(previous), self)

    async def give_back(self, key: str, window_start: int, window: int, amount: int = 1) -> None:
        await self._give_back_script(keys=[self._name(key, window_start)], args=[amount])

    async def close(self) -> None:
        await self.redis.aclose()


class FallbackCounters:
    """Redis first; the database whenever Redis fails, and for a few seconds after, so a Redis that went
    away (or stopped answering) neither switches the limits off nor slows every request by its timeout.

    The two stores count apart: while Redis is down, a client's budget starts again in the database.
    """

    def __init__(
        self, primary: CounterStorage, fallback: CounterStorage, *, clock: Any = time.monotonic
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.clock = clock
        self._primary_again_at = 0.0

    async def hit(self, key: str, window: int, now: float, amount: int, limit: int) -> Hit:
        if self.clock() >= self._primary_again_at:
            try:
                return await self.primary.hit(key, window, now, amount, limit)
            except Exception:
                self._primary_again_at = self.clock() + REDIS_RETRY_AFTER_SECONDS
                log.warning("Redis failed; counting rate limits in the database for now", exc_info=True)
        return await self.fallback.hit(key, window, now, amount, limit)

    async def give_back(self, key: str, window_start: int, window: int, amount: int = 1) -> None:
        # Only reached without a Hit to say where the count went; the middleware gives back through
        # `Hit.storage`, which is the store that counted.
        await self.fallback.give_back(key, window_start, window, amount)

    async def close(self) -> None:
        try:
            await self.primary.close()
        finally:
            await self.fallback.close()
