"""Counter storage: atomic, shared by every app node, and cleaned up once a window is over."""

import asyncio
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from piazza.db import Database
from piazza.limits.models import RateLimitCounter
from piazza.limits.storage import DatabaseCounters, RedisCounters
from tests.limits.conftest import REDIS_URL, limited_app, needs_redis


def current_window(seconds=300):
    return int(time.time()) // seconds * seconds


def test_concurrent_increments_are_never_lost(storage):
    window = current_window()

    async def hammer():
        counts = await asyncio.gather(*(storage.increment("k", window, 300) for _ in range(25)))
        total = await storage.get("k", window)
        await storage.close()
        return counts, total

    counts, total = asyncio.run(hammer())
    assert sorted(counts) == list(range(1, 26))
    assert total == 25


def test_a_count_can_be_given_back(storage):
    window = current_window()

    async def run():
        await storage.increment("k", window, 300)
        await storage.increment("k", window, 300)
        after = await storage.increment("k", window, 300, -1)
        other_window = await storage.get("k", window + 300)
        await storage.close()
        return after, other_window

    assert asyncio.run(run()) == (1, 0)


def test_two_apps_on_one_database_share_their_counts(db, database_url):
    other_node = Database(database_url)
    try:
        with (
            TestClient(limited_app(DatabaseCounters(db))) as node_a,
            TestClient(limited_app(DatabaseCounters(other_node))) as node_b,
        ):
            for _ in range(3):
                assert node_a.post("/api/user/register").status_code == 200
                assert node_b.post("/api/user/register").status_code == 200
            assert node_a.post("/api/user/register").status_code == 429
            assert node_b.post("/api/user/register").status_code == 429
    finally:
        other_node.dispose()


@needs_redis
def test_two_apps_on_one_redis_share_their_counts():
    prefix = f"piazza-test:shared-{time.time_ns()}:"
    with (
        TestClient(limited_app(RedisCounters(REDIS_URL, prefix=prefix))) as node_a,
        TestClient(limited_app(RedisCounters(REDIS_URL, prefix=prefix))) as node_b,
    ):
        for _ in range(3):
            assert node_a.post("/api/client").status_code == 200
            assert node_b.post("/api/client").status_code == 200
        assert node_b.post("/api/client").status_code == 429


def test_counters_of_finished_windows_are_deleted(db):
    counters = DatabaseCounters(db)
    now = int(time.time())

    async def run():
        await counters.increment("old", now - 600, 300)  # ended five minutes ago
        counters._next_cleanup = 0  # the next counted request cleans up
        await counters.increment("current", now // 60 * 60, 60)

    asyncio.run(run())
    with db.session(write=False) as session:
        keys = session.execute(select(RateLimitCounter.key)).scalars().all()
        assert keys == ["current"]
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 1


def test_counter_keys_hold_no_address_or_user_name_in_clear(db):
    with TestClient(limited_app(DatabaseCounters(db))) as client:
        form = {"username": "ada@example.org", "password": "wrong"}
        client.post("/oauth/login", data=form, headers={"x-test-peer": "192.0.2.44"})
    with db.session(write=False) as session:
        keys = session.execute(select(RateLimitCounter.key)).scalars().all()
    assert len(keys) == 2
    assert all("ada" not in key and "192.0.2.44" not in key for key in keys)


@needs_redis
def test_redis_counters_expire_when_their_window_ends():
    import redis

    prefix = f"piazza-test:ttl-{time.time_ns()}:"
    counters = RedisCounters(REDIS_URL, prefix=prefix)
    window_start = int(time.time()) // 300 * 300

    async def run():
        await counters.increment("k", window_start, 300)
        await counters.close()

    asyncio.run(run())
    plain = redis.Redis.from_url(REDIS_URL)
    try:
        name = f"{prefix}k:{window_start}"
        ttl = plain.ttl(name)
        assert 0 < ttl <= 301
        plain.delete(name)
    finally:
        plain.close()


def test_requests_pass_unlimited_when_the_counter_store_is_down(caplog):
    # Nothing listens on port 1: every count fails, as with a Redis server that went away.
    storage = RedisCounters("redis://127.0.0.1:1/0", prefix="piazza-test:down:")
    with TestClient(limited_app(storage)) as client, caplog.at_level("WARNING", logger="piazza.limits"):
        statuses = [client.post("/api/client").status_code for _ in range(8)]
    assert statuses == [200] * 8
    assert "request not limited" in caplog.text
