"""Small apps with dummy routes at the real paths, wrapped by the real middleware and real storage.

The routes themselves belong to other packages; these stand-ins answer the way those routes do
(Gancio's statuses, RFC 6749 errors) so the rules can be exercised on their own.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator, Sequence

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from piazza.db import Database
from piazza.limits.clientip import IPNetwork
from piazza.limits.ratelimit import RateLimitMiddleware
from piazza.limits.rules import RULES, Rule
from piazza.limits.storage import CounterStorage, DatabaseCounters, RedisCounters
from tests.conftest import wait_for_a_fresh_window

REDIS_URL = "redis://127.0.0.1:6379/0"
RIGHT_PASSWORD = "right password"
GOOD_SECRET = "good secret"
GOOD_TOKEN = "Bearer good-token"
SECRET = b"test-rate-limit-key-" + b"x" * 20


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_answers(), reason="no Redis server answers on 127.0.0.1:6379")


class PeerFromHeader:
    """Test-only outer layer: the `x-test-peer` header sets the TCP peer address the app sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(b"x-test-peer")
            if peer:
                scope = dict(scope, client=(peer.decode(), 40000))
        await self.app(scope, receive, send)


def dummy_routes() -> FastAPI:
    app = FastAPI()

    @app.post("/api/client")
    @app.post("/api/user/register")
    @app.post("/api/user/recover")
    @app.post("/api/user/recover_password")
    @app.post("/api/event/messages/{event_id}")
    async def spam_target() -> Response:
        return PlainTextResponse("OK")

    @app.get("/api/client")
    async def read_only() -> Response:
        return PlainTextResponse("OK")

    @app.post("/api/event")
    async def add_event(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if authorization is not None and authorization != GOOD_TOKEN:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"id": 1})

    @app.post("/oauth/login")
    async def oauth_login(request: Request) -> Response:
        form = await request.form()
        if not form.get("username"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Missing required parameter: username"},
                status_code=400,
            )
        if form.get("password") != RIGHT_PASSWORD:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid resource owner credentials"},
                status_code=403,
            )
        return JSONResponse({"access_token": "x", "username": form["username"], "token_type": "Bearer"})

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("client_secret") != GOOD_SECRET:
            return PlainTextResponse("Unauthorized", status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if form.get("code") != "good-code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": "x", "token_type": "Bearer"})

    @app.post("/login")
    async def web_login(request: Request) -> Response:
        form = await request.form()
        if form.get("csrf") != "ok":
            return PlainTextResponse("CSRF check failed", status_code=400)
        if form.get("password") != RIGHT_PASSWORD:
            # A re-rendered login page: bigger than the part of a body the limiter looks at.
            page = "<p>Wrong email or password.</p>" + "<!-- form -->" * 500
            return HTMLResponse(page, status_code=403)
        return RedirectResponse("/", status_code=303)

    return app


def limited_app(
    storage: CounterStorage, *, rules: Sequence[Rule] = RULES, trusted_proxies: Sequence[IPNetwork] = ()
) -> ASGIApp:
    app = dummy_routes()
    app.add_middleware(
        RateLimitMiddleware, storage=storage, secret=SECRET, trusted_proxies=trusted_proxies, rules=rules
    )
    return PeerFromHeader(app)


@pytest.fixture(params=["database", pytest.param("redis", marks=needs_redis)])
def storage(request: pytest.FixtureRequest, db: Database) -> Iterator[CounterStorage]:
    """Each rule test runs on both kinds of storage (Redis only where a server answers)."""
    if request.param == "database":
        yield DatabaseCounters(db)
        return
    prefix = f"piazza-test:{secrets.token_hex(6)}:"
    yield RedisCounters(REDIS_URL, prefix=prefix)
    import redis

    cleaner = redis.Redis.from_url(REDIS_URL)
    try:
        for name in cleaner.scan_iter(match=prefix + "*"):
            cleaner.delete(name)
    finally:
        cleaner.close()


@pytest.fixture
def limited_client(storage: CounterStorage) -> Iterator[TestClient]:
    with TestClient(limited_app(storage)) as client:
        yield client


def peer(address: str) -> dict[str, str]:
    return {"x-test-peer": address}


@pytest.fixture(autouse=True)
def _fresh_rate_limit_window() -> None:
    """Counting tests must not straddle the start of a window (see wait_for_a_fresh_window)."""
    wait_for_a_fresh_window()
