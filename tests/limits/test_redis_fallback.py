"""When Redis fails, the limits count in the database instead of switching off (issue 15)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from piazza.app import create_app
from piazza.limits.models import RateLimitCounter
from piazza.limits.storage import REDIS_RETRY_AFTER_SECONDS, DatabaseCounters, FallbackCounters, RedisCounters
from tests.conftest import free_port
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.limits.conftest import REDIS_URL, RIGHT_PASSWORD, limited_app, needs_redis, peer


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there: connecting is refused at once


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A server that accepts connections and never answers, like a Redis that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def _logins(client: TestClient, count: int, password: str = "wrong") -> list[int]:  # noqa: S107
    form = {"client_id": "self", "username": "ada@example.org", "password": password}
    return [
        client.post("/oauth/login", data=form, headers=peer("192.0.2.8")).status_code for _ in range(count)
    ]


@pytest.mark.parametrize("redis_is", ["closed", "silent"])
def test_login_limits_hold_while_redis_is_down(db, closed_port, silent_redis, redis_is, caplog):
    port = closed_port if redis_is == "closed" else silent_redis
    storage = FallbackCounters(RedisCounters(f"redis://127.0.0.1:{port}/0"), DatabaseCounters(db))
    with TestClient(limited_app(storage)) as client, caplog.at_level("WARNING", logger="piazza.limits"):
        statuses = _logins(client, 10) + _logins(client, 1, RIGHT_PASSWORD)
    assert statuses == [403] * 10 + [429]
    assert "counting rate limits in the database" in caplog.text
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 2


def test_the_real_app_keeps_its_login_limits_with_redis_on_a_closed_port(make_config, db, closed_port):
    make_user(db, "target@example.org")
    app = create_app(make_config(rate_limits=True, redis_url=f"redis://127.0.0.1:{closed_port}/0"))
    form = {"grant_type": "password", "client_id": "self", "username": "target@example.org"}
    try:
        with TestClient(app) as client:
            failures = [
                client.post("/oauth/login", data={**form, "password": "wrong"}).status_code for _ in range(10)
            ]
            blocked = client.post("/oauth/login", data={**form, "password": DEFAULT_PASSWORD})
            token_endpoint = [
                client.post(
                    "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "0" * 40}
                ).status_code
                for _ in range(11)
            ]
    finally:
        app.state.db.dispose()
    assert failures == [403] * 10
    assert blocked.status_code == 429
    assert token_endpoint[-1] == 429 and 429 not in token_endpoint[:10]


def test_redis_is_tried_again_after_a_while(db, closed_port):
    now = [0.0]
    failing = RedisCounters(f"redis://127.0.0.1:{closed_port}/0")
    calls: list[str] = []

    class Recording:
        def __init__(self, inner, name):
            self.inner, self.name = inner, name

        async def hit(self, *args):
            calls.append(self.name)
            return await self.inner.hit(*args)

        async def give_back(self, *args):
            return await self.inner.give_back(*args)

        async def close(self):
            await self.inner.close()

    storage = FallbackCounters(
        Recording(failing, "redis"), Recording(DatabaseCounters(db), "db"), clock=lambda: now[0]
    )

    async def run() -> None:
        await storage.hit("k", 300, time.time(), 1, 10)  # Redis fails: the database counts
        await storage.hit("k", 300, time.time(), 1, 10)  # the database alone, for a while
        now[0] += REDIS_RETRY_AFTER_SECONDS + 1
        await storage.hit("k", 300, time.time(), 1, 10)  # Redis again (and down again)
        await storage.close()

    asyncio.run(run())
    assert calls == ["redis", "db", "db", "redis", "db"]


@needs_redis
def test_while_redis_answers_the_database_counts_nothing(db):
    prefix = f"piazza-test:fallback-{time.time_ns()}:"
    storage = FallbackCounters(RedisCounters(REDIS_URL, prefix=prefix), DatabaseCounters(db))
    with TestClient(limited_app(storage)) as client:
        assert _logins(client, 11) == [403] * 10 + [429]
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 0
    import redis

    plain = redis.Redis.from_url(REDIS_URL)
    try:
        for name in plain.scan_iter(match=prefix + "*"):
            plain.delete(name)
    finally:
        plain.close()
