"""The application factory. Nothing is built at import time: uvicorn calls `create_app` (or
`app_from_environment` in worker processes) and tests build their own apps from explicit Configs."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response

from piazza.accounts.api import router as accounts_router
from piazza.app_state import AppState
from piazza.config import Config, load_config
from piazza.db import Database
from piazza.db.answers import AnswerCache
from piazza.db.cache import ReadCache
from piazza.errors import PiazzaError, TooManyRequests
from piazza.events.geocoding import Geocoder
from piazza.events.routes import router as events_router
from piazza.federation.routes import router as federation_router
from piazza.instance.routes import router as instance_router
from piazza.limits import install_limits, install_rate_limits
from piazza.mail import MailWorker
from piazza.middleware import PrivateAnswersMiddleware, RequestIdMiddleware
from piazza.moderation.api import router as moderation_router
from piazza.oauth.api import router as oauth_router
from piazza.oauth.bearer import InsufficientScope, InvalidToken, UnsupportedScheme
from piazza.openapi import openapi_document
from piazza.responses import JSONResponse
from piazza.web.admin import router as admin_router
from piazza.web.pages import Stylesheets
from piazza.web.pages import router as web_router
from piazza.web.security import SecurityHeadersMiddleware
from piazza.web.session import SESSION_COOKIE, session_user_of_scope

log = logging.getLogger("piazza")


def create_app(config: Config) -> FastAPI:
    config = config.with_secret_key()
    database = Database(config.sqlalchemy_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mail_worker = MailWorker(database, config)
        mail_worker.start()
        yield
        await mail_worker.stop()
        state.read_cache.close()
        database.dispose()

    app = FastAPI(
        title="Piazza",
        summary="A shared agenda for local communities, with Gancio's API and an OAuth 2.0 provider.",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    read_cache = ReadCache(database, ttl=config.read_cache_seconds)
    app.state = state = AppState(
        config=config,
        db=database,
        read_cache=read_cache,
        answers=AnswerCache(config.answer_cache_dir, max_bytes=config.answer_cache_size),
        geocoder=Geocoder(allow_private=config.allow_private_fetch),
    )

    # Requests are matched against the routes in this order, a few µs a route: the busiest API first
    # (accounts for the cheap GET /api/user every app sends at start, events, OAuth), the pages last. No
    # route of one router matches another router's paths (tests/test_app.py).
    app.include_router(accounts_router)
    app.include_router(events_router)
    app.include_router(oauth_router)
    app.include_router(instance_router)
    app.include_router(moderation_router)
    app.include_router(federation_router)
    app.include_router(admin_router)
    app.mount("/static", Stylesheets(), name="static")
    app.include_router(web_router)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    _add_error_handlers(app)
    # Inside the session middleware: the page rules tell a logged-in person from a visitor.
    install_rate_limits(app, config, database, session_user_of_scope)
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=config.is_https,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(PrivateAnswersMiddleware, session_cookie=SESSION_COOKIE)
    install_limits(app, config, database)
    app.add_middleware(RequestIdMiddleware, access_log=config.access_log)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn workers call: the same Config the CLI validated, read again from the env."""
    app = create_app(load_config())
    # What is loaded by now (the libraries, the app and its routes) lives as long as the worker. Frozen,
    # the collector no longer walks it: a full collection under load took 40-70 ms, with every request
    # of the worker waiting, and now takes 2-3 ms. Garbage is collected first, or it would stay forever.
    gc.collect()
    gc.freeze()
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PiazzaError)
    async def piazza_error(request: Request, exc: PiazzaError) -> Response:
        if isinstance(exc, InvalidToken | InsufficientScope):
            # RFC 6750 §3: the challenge names the error; the body repeats it as JSON.
            challenge = f'Bearer error="{exc.message}", error_description="{exc.description}"'
            return JSONResponse(
                {"error": exc.message, "error_description": exc.description},
                status_code=exc.status,
                headers={"WWW-Authenticate": challenge},
            )
        if isinstance(exc, UnsupportedScheme):
            # RFC 6750 §3.1: the request used another authentication method, so no error code.
            return PlainTextResponse(exc.message, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        # Gancio's clients show error bodies verbatim. Gancio sends them as text/html, which would let
        # an echoed input run as markup; plain text shows the same words safely.
        return PlainTextResponse(exc.message, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return PlainTextResponse(detail, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query"))
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return PlainTextResponse("; ".join(problems) or "Bad Request", status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        # The client went away while its body was being read: nobody will read an answer, and it is
        # not a server error to log. 400 for the access log (nginx would say 499).
        return PlainTextResponse("Client disconnected", status_code=400)

    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    async def no_database_connection(request: Request, exc: sqlalchemy.exc.TimeoutError) -> Response:
        # Every connection of the worker's pool stayed busy for the pool timeout (Database, 30 s): the
        # server is overloaded, not broken, and a client may try again shortly.
        log.warning("no database connection free for %s %s", request.method, request.url.path)
        return PlainTextResponse("Service Unavailable", status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "-")
        log.exception(
            "unhandled error on %s %s", request.method, request.url.path, extra={"request_id": request_id}
        )
        return PlainTextResponse(
            f"Internal Server Error (request id {request_id})",
            status_code=500,
            # Starlette sends this one outside every middleware, so its headers are set here.
            headers={"X-Request-ID": request_id, "X-Content-Type-Options": "nosniff"},
        )
