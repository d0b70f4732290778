"""Rate limits and request-size limits, plugged in from outside the routes as ASGI middleware.

`install_limits` (request limits, outermost) and `install_rate_limits` (inside the session middleware,
so page rules can tell a logged-in person from a visitor) are where the package meets the app:
`create_app` calls each once.
"""

from __future__ import annotations

from fastapi import FastAPI

from piazza.config import Config
from piazza.db import Database
from piazza.limits.clientip import parse_networks
from piazza.limits.ratelimit import RateLimitMiddleware, SessionUser
from piazza.limits.requests import RequestLimits, RequestLimitsMiddleware
from piazza.limits.storage import CounterStorage, DatabaseCounters, FallbackCounters, RedisCounters

__all__ = ["install_limits", "install_rate_limits", "counter_storage"]


def counter_storage(config: Config, database: Database) -> CounterStorage:
    """Redis when `PIAZZA_REDIS_URL` is set (falling back to the database while Redis fails), otherwise
    the database; shared by every node either way."""
    if config.redis_url:
        redis = RedisCounters(config.redis_url.get_secret_value())
        return FallbackCounters(redis, DatabaseCounters(database))
    return DatabaseCounters(database)


def install_rate_limits(app: FastAPI, config: Config, database: Database, session_user: SessionUser) -> None:
    """Add the rate-limit middleware (when `PIAZZA_RATE_LIMITS` is on). `session_user` names the
    logged-in user of a request's session, or None; create_app adds it inside the session middleware."""
    if config.rate_limits:
        app.add_middleware(
            RateLimitMiddleware,
            storage=counter_storage(config, database),
            secret=config.secret_key.get_secret_value().encode(),
            trusted_proxies=parse_networks(config.trusted_proxies.split(",")),
            session_user=session_user,
        )


def install_limits(app: FastAPI, config: Config, database: Database) -> None:
    """Add the request-limit middleware, outside the rate limits (cheap, no storage)."""
    # Added after the rate limits, so it runs first: an oversized request never reaches their storage.
    app.add_middleware(
        RequestLimitsMiddleware,
        limits=RequestLimits(
            max_body_size=config.max_body_size,
            max_upload_size=config.max_upload_size,
            max_multipart_parts=config.max_multipart_parts,
            max_json_depth=config.max_json_depth,
            max_query_length=config.max_query_length,
            max_header_size=config.max_header_size,
            body_timeout=config.body_timeout,
        ),
    )
