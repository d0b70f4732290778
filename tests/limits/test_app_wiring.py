"""The limits are wired into create_app: on with PIAZZA_RATE_LIMITS on, gone with it off."""

import secrets

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from piazza.app import create_app
from piazza.limits.models import RateLimitCounter
from piazza.limits.storage import DatabaseCounters, FallbackCounters, RedisCounters
from tests.limits.conftest import REDIS_URL, needs_redis


def test_create_app_limits_registration_spam(make_config, db):
    # On main the registration route may not exist yet (404); the limit applies all the same.
    app = create_app(make_config(rate_limits=True))
    try:
        with TestClient(app) as client:
            statuses = [client.post("/api/user/register").status_code for _ in range(7)]
            refused = client.post("/api/user/register")
            assert client.get("/api/ping").status_code == 200
    finally:
        app.state.db.dispose()
    assert 429 not in statuses[:6]
    assert statuses[6] == 429
    assert refused.headers["Retry-After"]
    assert refused.headers["X-Request-ID"]
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 1


def test_rate_limits_off_disables_every_rate_limit(make_config, db):
    app = create_app(make_config(rate_limits=False))
    try:
        with TestClient(app) as client:
            statuses = {client.post("/api/user/register").status_code for _ in range(10)}
    finally:
        app.state.db.dispose()
    assert 429 not in statuses
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 0


def test_requests_that_match_no_rule_touch_no_counter(make_config, db):
    app = create_app(make_config(rate_limits=True))
    try:
        with TestClient(app) as client:
            for _ in range(10):
                assert client.get("/api/ping").status_code == 200
    finally:
        app.state.db.dispose()
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 0


def test_storage_is_redis_when_a_url_is_configured_and_the_database_otherwise(make_config, db):
    from piazza.limits import counter_storage

    assert isinstance(counter_storage(make_config(), db), DatabaseCounters)
    redis_storage = counter_storage(make_config(redis_url=REDIS_URL), db)
    # Redis first, the database while Redis fails.
    assert isinstance(redis_storage, FallbackCounters)
    assert isinstance(redis_storage.primary, RedisCounters)
    assert isinstance(redis_storage.fallback, DatabaseCounters)


@needs_redis
def test_create_app_counts_in_redis_when_a_url_is_configured(make_config, db):
    # A fresh secret key gives fresh counter names; they expire with their window.
    config = make_config(rate_limits=True, redis_url=REDIS_URL, secret_key=secrets.token_hex(32))
    app = create_app(config)
    try:
        with TestClient(app) as client:
            statuses = [client.post("/api/client").status_code for _ in range(7)]
    finally:
        app.state.db.dispose()
    assert statuses[6] == 429
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 0


def test_an_oversize_login_form_is_a_413_before_any_counting(make_config, db):
    app = create_app(make_config(rate_limits=True, max_body_size=2048))

    def chunked_form():
        yield b"username=ada%40example.org&password="
        for _ in range(10):
            yield b"x" * 512

    try:
        with TestClient(app) as client:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            response = client.post("/oauth/login", content=chunked_form(), headers=headers)
    finally:
        app.state.db.dispose()
    assert response.status_code == 413
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one() == 0
