"""Counter storage: atomic, shared by every app node, and cleaned up once a window is over."""

import asyncio
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from piazza.db import Database
from piazza.limits.models import RateLimitCounter
from piazza.limits.storage import DatabaseCounters, RedisCounters
from tests.limits.conftest import REDIS_URL, limited_app, needs_redis

WINDOW = 300


def current_window(seconds=WINDOW):
    return int(time.time()) // seconds * seconds


def test_concurrent_hits_are_never_lost_and_never_pass_the_limit_together(storage):
    now = time.time()

    async def hammer():
        hits = await asyncio.gather(*(storage.hit("k", WINDOW, now, 1, 20) for _ in range(25)))
        total = await storage.hit("k", WINDOW, now, 0, 20)
        await storage.close()
        return hits, total

    hits, total = asyncio.run(hammer())
    counted = sorted(hit.current for hit in hits if hit.counted)
    assert counted == list(range(1, 21))
    assert [hit.current for hit in hits if not hit.counted] == [20] * 5
    assert total.current == 20


def test_a_count_can_be_given_back(storage):
    now = time.time()

    async def run():
        await storage.hit("k", WINDOW, now, 1, 10)
        await storage.hit("k", WINDOW, now, 1, 10)
        await storage.give_back("k", current_window(), WINDOW)
        after = await storage.hit("k", WINDOW, now, 0, 10)
        other_window = await storage.hit("k", WINDOW, now + WINDOW * 2, 0, 10)
        await storage.close()
        return after.current, other_window.current, other_window.previous

    assert asyncio.run(run()) == (1, 0, 0)


def test_the_previous_window_weighs_on_the_current_one(storage):
    """Fixed windows let a client send the limit at the end of one window and again at the start of
    the next; the sliding estimate counts the previous window by the part of it still in the last
    five minutes."""
    start = current_window() - WINDOW  # a whole window ago, so both windows are in the past or now

    async def run():
        at_the_end = [await storage.hit("k", WINDOW, start + WINDOW - 1, 1, 10) for _ in range(10)]
        # One second into the next window the previous one still weighs 299/300 of its ten: nothing fits.
        just_after = await storage.hit("k", WINDOW, start + WINDOW + 1, 1, 10)
        # Half way through, half of the ten weighs: five more fit, the sixth does not.
        half_way = [await storage.hit("k", WINDOW, start + WINDOW * 1.5, 1, 10) for _ in range(6)]
        await storage.close()
        return at_the_end, just_after, half_way

    at_the_end, just_after, half_way = asyncio.run(run())
    assert all(hit.counted for hit in at_the_end)
    assert not just_after.counted
    assert (just_after.current, just_after.previous) == (0, 10)
    assert [hit.counted for hit in half_way] == [True] * 5 + [False]


def test_middleware_refuses_at_a_window_edge_what_a_fixed_window_let_through(storage):
    """Twice the limit in two seconds across a window's start: only the first six pass."""
    from piazza.limits.ratelimit import RateLimitMiddleware
    from tests.limits.conftest import SECRET, PeerFromHeader, dummy_routes

    edge = current_window() - 1  # the last second of the previous window
    times = [edge + 0.5] * 6 + [edge + 1.5] * 6
    clock = iter(times)
    app = dummy_routes()
    app.add_middleware(RateLimitMiddleware, storage=storage, secret=SECRET, clock=lambda: next(clock))
    with TestClient(PeerFromHeader(app)) as client:
        statuses = [client.post("/api/user/register").status_code for _ in times]
    assert statuses == [200] * 6 + [429] * 6


def test_a_refusal_says_when_one_more_request_fits(storage):
    from piazza.limits.ratelimit import RateLimitMiddleware
    from tests.limits.conftest import SECRET, PeerFromHeader, dummy_routes

    start = current_window() - WINDOW
    times = iter([start + WINDOW - 10] * 6 + [start + WINDOW + 10])
    app = dummy_routes()
    app.add_middleware(RateLimitMiddleware, storage=storage, secret=SECRET, clock=lambda: next(times))
    with TestClient(PeerFromHeader(app)) as client:
        for _ in range(6):
            assert client.post("/api/client").status_code == 200
        refused = client.post("/api/client")
    assert refused.status_code == 429
    # Ten seconds into the next window the six weigh 6 x 290/300; one more fits once they weigh 5,
    # at 50 s: 40 s from now.
    assert refused.headers["Retry-After"] == "40"
    assert refused.headers["RateLimit-Remaining"] == "0"


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
    now = time.time()

    async def run():
        await counters.hit("old", WINDOW, now - 3 * WINDOW, 1, 10)  # no longer even the previous window
        await counters.hit("previous", WINDOW, now - WINDOW, 1, 10)  # still weighs on the current one
        counters._next_cleanup = 0  # the next counted request cleans up
        await counters.hit("current", WINDOW, now, 1, 10)

    asyncio.run(run())
    with db.session(write=False) as session:
        keys = session.execute(select(RateLimitCounter.key)).scalars().all()
        assert sorted(keys) == ["current", "previous"]
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 2


def test_counter_keys_hold_no_address_or_user_name_in_clear(db):
    with TestClient(limited_app(DatabaseCounters(db))) as client:
        form = {"username": "ada@example.org", "password": "wrong"}
        client.post("/oauth/login", data=form, headers={"x-test-peer": "192.0.2.44"})
    with db.session(write=False) as session:
        keys = session.execute(select(RateLimitCounter.key)).scalars().all()
    assert len(keys) == 2
    assert all("ada" not in key and "192.0.2.44" not in key for key in keys)


@needs_redis
def test_redis_counters_expire_once_they_no_longer_weigh():
    import redis

    prefix = f"piazza-test:ttl-{time.time_ns()}:"
    counters = RedisCounters(REDIS_URL, prefix=prefix)

    async def run():
        await counters.hit("k", WINDOW, time.time(), 1, 10)
        await counters.close()

    asyncio.run(run())
    plain = redis.Redis.from_url(REDIS_URL)
    try:
        names = list(plain.scan_iter(match=prefix + "*"))
        assert len(names) == 1
        # The window's own end, and one more window serving as the previous one.
        assert WINDOW < plain.ttl(names[0]) <= 2 * WINDOW + 1
        plain.delete(*names)
    finally:
        plain.close()


def test_a_broken_counter_store_refuses_limited_requests_rather_than_switching_off(caplog):
    # Nothing listens on port 1: every count fails. A limit never switches off (FallbackCounters puts
    # the database behind Redis, see test_redis_fallback.py); requests that match no rule still pass.
    storage = RedisCounters("redis://127.0.0.1:1/0", prefix="piazza-test:down:")
    with TestClient(limited_app(storage)) as client, caplog.at_level("WARNING", logger="piazza.limits"):
        statuses = [client.post("/api/client").status_code for _ in range(3)]
        assert client.get("/api/client").status_code == 200
    assert statuses == [503] * 3
    assert "request refused" in caplog.text
