"""Rate limits and request-size limits, plugged in from outside the routes as ASGI middleware.

`install_limits` is the one place the package meets the app: `create_app` calls it once.
"""

from __future__ import annotations

from fastapi import FastAPI

from piazza.config import Config
from piazza.db import Database
from piazza.limits.clientip import parse_networks
from piazza.limits.ratelimit import RateLimitMiddleware
from piazza.limits.requests import RequestLimits, RequestLimitsMiddleware
from piazza.limits.storage import CounterStorage, DatabaseCounters, RedisCounters

__all__ = ["install_limits", "counter_storage"]


def counter_storage(config: Config, database: Database) -> CounterStorage:
    """Redis when `PIAZZA_REDIS_URL` is set, otherwise the database; shared by every node either way."""
    if config.redis_url:
        return RedisCounters(config.redis_url.get_secret_value())
    return DatabaseCounters(database)


def install_limits(app: FastAPI, config: Config, database: Database) -> None:
    """Add the middleware. Request limits run first (cheap, no storage), then rate limits."""
    if config.rate_limits:
        app.add_middleware(
            RateLimitMiddleware,
            storage=counter_storage(config, database),
            secret=config.secret_key.get_secret_value().encode(),
            trusted_proxies=parse_networks(config.trusted_proxies.split(",")),
        )
    # Added last, so it runs first: an oversized request never reaches the rate-limit storage.
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
