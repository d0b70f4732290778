"""Gancio's event routes (gancio-api.md §1, §2.3) and the media files (§2.16).

Routes parse, make one database call and return a ready response; rules live in `service.py` and
`queries.py`. Error texts are Gancio's, sent as plain text by the app's error handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from piazza.accounts.forms import read_body
from piazza.app_state import app_state
from piazza.config import Config
from piazza.db import Database
from piazza.db.answers import serve_answer
from piazza.errors import Forbidden, Invalid, NotFound
from piazza.events import exports, feeds, occurrences, queries, service
from piazza.events.images import (
    THUMB_FOLDER,
    ProcessedImage,
    delete_image_files,
    fetch_image,
    is_media_name,
    process_image,
)
from piazza.events.openapi import (
    ASSIGN_AUTHOR_BODY,
    EVENT,
    EVENT_CREATE_BODY,
    EVENT_LIST,
    EVENT_UPDATE_BODY,
    LISTING_PARAMETERS,
    MEDIA,
)
from piazza.events.schemas import Upload, is_truthy, parse_number, read_event_body
from piazza.imaging import in_turn
from piazza.instance.settings import FEED_KEYS, get_setting, get_settings_of
from piazza.oauth.bearer import Caller, InsufficientScope, get_caller, require
from piazza.oauth.scopes import Permission, role_grants
from piazza.openapi import STRING, array_of, json_content, operation
from piazza.responses import JSONResponse

log = logging.getLogger("piazza.events")

# Gancio sends `Access-Control-Allow-Origin: *` on its public reads only (§0.6).
CORS = {"Access-Control-Allow-Origin": "*"}
MEDIA_CACHE = {"Cache-Control": "public, max-age=31536000, immutable"}


@contextlib.asynccontextmanager
async def occurrence_generator(app: FastAPI) -> AsyncIterator[None]:
    """Run the recurrence generator periodically while the app serves (§5.13)."""
    stop = asyncio.Event()
    task = asyncio.create_task(_generate_forever(app.state.db, stop))
    try:
        yield
    finally:
        # Not task.cancel(): cancelling the await would leave a round running in its thread, holding
        # a database connection while the app disposes of the engine. The round finishes first.
        stop.set()
        await task


async def _generate_forever(db: Database, stop: asyncio.Event) -> None:
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), occurrences.GENERATOR_INTERVAL_SECONDS)
        if stop.is_set():
            return
        try:
            created = await db.write(occurrences.generate_all)
            if created:
                log.info("created %d occurrences of recurrent events", created)
        except Exception:  # the task must outlive a failed round (e.g. the database restarting)
            log.exception("the recurrence generator failed")


router = APIRouter(lifespan=occurrence_generator)
# Pages up to this size are read with Database.read_small (on the event loop, on SQLite).
SMALL_PAGE = 200


def _db(request: Request) -> Database:
    return app_state(request).db


def _config(request: Request) -> Config:
    return app_state(request).config


def _actor(caller: Caller) -> service.Actor:
    return service.Actor(user_id=caller.user_id, is_moderator=caller.is_moderator)


async def event_writer(caller: Caller = Depends(get_caller)) -> Caller:
    """Anonymous callers pass (the service applies `allow_anon_event`); a token must allow writes."""
    if caller.is_anonymous:
        return caller
    if not caller.scope_allows(Permission.EVENT_WRITE):
        raise InsufficientScope(Permission.EVENT_WRITE)
    if not role_grants(caller.role, Permission.EVENT_WRITE):
        raise Forbidden()
    return caller


async def _image_for(
    request: Request, caller: Caller, data: dict[str, Any], upload: Upload | None, *, updating: bool
) -> ProcessedImage | None:
    """The uploaded or fetched image, decoded; None when the request brings no new image (§5.7)."""
    if upload is not None:
        with upload.file:
            return await in_turn(process_image, upload.file)
    url = data.get("image_url")
    if not is_truthy(url):
        return None
    if not isinstance(url, str):
        raise Invalid("image_url must be a URL", field="image_url")
    if updating and not url.lower().startswith(("http://", "https://")):
        return None  # on update only http(s) URLs are fetched (§5.7)
    if caller.is_anonymous and not await _db(request).read(get_setting, "allow_anon_event"):
        raise Forbidden()  # refuse before fetching anything on behalf of a visitor who may not post
    raw = await fetch_image(url.strip(), allow_private=_config(request).allow_private_fetch)
    return await in_turn(process_image, raw)


async def _write_event(request: Request, caller: Caller, *, updating: bool) -> Response:
    data, upload = await read_event_body(request)
    image = await _image_for(request, caller, data, upload, updating=updating)
    config = _config(request)
    context = service.EventWriteContext(
        media_dir=config.media_dir, sanitized=service.sanitized_in_advance(data)
    )
    write = service.update_event if updating else service.create_event
    try:
        try:
            result = await _db(request).write(write, _actor(caller), data, image, context)
        except IntegrityError:
            # Two writers picked the same free slug at once (PostgreSQL lets both look); the loser's
            # transaction rolled back whole, so running it again picks the next slug.
            result = await _db(request).write(write, _actor(caller), data, image, context)
    except BaseException:
        if image is not None:  # the transaction rolled back: drop the files it may have written
            delete_image_files(config.media_dir, image.name)
        raise
    service.remove_media_files(config.media_dir, result.obsolete_media)
    return JSONResponse(result.event)


@router.post("/api/event", openapi_extra=operation(body=EVENT_CREATE_BODY, ok=json_content(EVENT)))
async def create_event(request: Request, caller: Caller = Depends(event_writer)) -> Response:
    return await _write_event(request, caller, updating=False)


@router.put("/api/event", openapi_extra=operation(body=EVENT_UPDATE_BODY, ok=json_content(EVENT)))
async def update_event(
    request: Request, caller: Caller = Depends(require(Permission.EVENT_WRITE))
) -> Response:
    return await _write_event(request, caller, updating=True)


@router.delete("/api/event/{event_id}", response_class=PlainTextResponse)
async def delete_event(
    event_id: str, request: Request, caller: Caller = Depends(require(Permission.EVENT_WRITE))
) -> Response:
    obsolete = await _db(request).write(service.delete_event, _actor(caller), event_id)
    service.remove_media_files(_config(request).media_dir, obsolete)
    return PlainTextResponse("OK")


@router.put(
    "/api/event/assign_to_author",
    response_class=PlainTextResponse,
    openapi_extra=operation(body=ASSIGN_AUTHOR_BODY),
)
async def assign_to_author(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    await _db(request).write(service.assign_to_author, await read_body(request))
    return PlainTextResponse("OK")


@router.put("/api/event/confirm/{event_id}", response_class=PlainTextResponse)
async def confirm_event(
    event_id: str, request: Request, caller: Caller = Depends(require(Permission.EVENT_WRITE))
) -> Response:
    await _db(request).write(service.confirm_event, _actor(caller), event_id)
    return PlainTextResponse("OK")


@router.put("/api/event/unconfirm/{event_id}", response_class=PlainTextResponse)
async def unconfirm_event(
    event_id: str, request: Request, caller: Caller = Depends(require(Permission.EVENT_WRITE))
) -> Response:
    await _db(request).write(service.unconfirm_event, _actor(caller), event_id)
    return PlainTextResponse("OK")


@router.get("/api/event/unconfirmed", openapi_extra=operation(ok=json_content(EVENT_LIST)))
async def unconfirmed_events(
    request: Request, caller: Caller = Depends(require(Permission.MODERATE))
) -> Response:
    return JSONResponse(await _db(request).read(queries.list_unconfirmed, now=int(time.time())))


@router.get("/api/events/mine", openapi_extra=operation(ok=json_content(EVENT_LIST)))
async def my_events(request: Request, caller: Caller = Depends(require(Permission.EVENT_WRITE))) -> Response:
    assert caller.user_id is not None  # noqa: S101  (require() refuses anonymous callers)
    return JSONResponse(await _db(request).read(queries.list_mine, caller.user_id, now=int(time.time())))


@router.get(
    "/api/events",
    openapi_extra={
        "parameters": LISTING_PARAMETERS,
        **operation(ok=json_content(array_of({"type": "object"}))),
    },
)
async def list_events(request: Request) -> Response:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key.removesuffix("[]"), []).append(value)
    listing = queries.parse_listing(params)
    if listing.limit is None:
        return await _full_listing(request, params, listing)
    db = _db(request)
    # A page of apps' usual size is a small read; larger pages, and searches (a scan of titles, places
    # and tags whatever the page), go to the thread pool.
    small = listing.limit <= SMALL_PAGE and listing.query is None
    # The listing's settings change rarely: reused while the database is unchanged (db/cache.py).
    # Without the cache (PostgreSQL) they are read in the listing's own transaction.
    cache = app_state(request).read_cache
    settings = (
        await cache.get_or_read("listing-settings", db.read_small, queries.read_listing_settings)
        if cache.enabled
        else None
    )
    read = db.read_small if small else db.read
    events = await read(queries.list_events_or_home_collection, listing, settings)
    return JSONResponse(events, headers=CORS)


async def _full_listing(
    request: Request, params: dict[str, list[str]], listing: queries.ListingQuery
) -> Response:
    """`GET /api/events` without `max`: every matching event, perhaps the whole agenda. Kept as an
    answer (piazza.db.answers) and written in batches, so that it costs what its bytes cost."""
    starts = params.get("start") or []
    start_given = bool(starts) and parse_number(starts[0]) is not None

    def build(db: Session, file: BinaryIO, now: int) -> int | None:
        q = listing if start_given else replace(listing, start=now)
        settings = queries.read_listing_settings(db)
        # Upcoming and ongoing events drop out as they end; an explicit start or a search does not age.
        aging = not start_given and q.query is None
        validity = exports.Validity(lookback=0 if aging else None)
        batches = queries.iter_events_or_home_collection(db, q, settings)
        exports.write_json_array(file, validity.watch(batches))
        return validity.until

    key_start = listing.start if start_given else None
    key = json.dumps(["listing", key_start, *dataclasses.astuple(replace(listing, start=0))], default=list)
    # Older events before "now" grow in number as time passes: built for each request, never kept.
    keep = start_given or not listing.older or listing.query is not None
    return await serve_answer(request, key, build, media_type="application/json", headers=CORS, keep=keep)


@router.get("/api/event/meta", openapi_extra=operation(ok=json_content(array_of({}))))
async def event_meta(request: Request, search: str | None = None) -> Response:
    return JSONResponse(await _db(request).read(queries.event_meta, search))


@router.get(
    "/api/event/detail/{slug_or_id}",
    openapi_extra=operation(ok={**json_content(EVENT), "text/calendar": {"schema": STRING}}),
)
async def event_detail(slug_or_id: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    name, dot, suffix = slug_or_id.rpartition(".")
    if not dot:
        name, suffix = slug_or_id, ""
    if suffix not in ("", "ics"):
        raise NotFound()  # Gancio never answers other suffixes (§2.3); a 404 is the honest answer
    config = _config(request)

    def load(db: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        detail, feed_event = queries.get_event_detail(
            db, name, user_id=caller.user_id, is_moderator=caller.is_moderator
        )
        # Only the calendar needs the settings (title, host name, base URL).
        return (
            detail,
            feed_event,
            get_settings_of(db, config.base_url, FEED_KEYS) if suffix == "ics" else None,
        )

    # A few lookups by key and two index walks that stop at their first match: a small read.
    detail, feed_event, settings = await _db(request).read_small(load)
    if settings is not None:
        body = feeds.render_ics([feed_event], settings=settings, alarm=True)
        return Response(body, media_type="text/calendar; charset=utf-8", headers=CORS)
    return JSONResponse(detail, headers=CORS)


# --- media --------------------------------------------------------------------------------------------


def _media_response(request: Request, *parts: str) -> Response:
    name = parts[-1]
    if not is_media_name(name):
        raise NotFound()
    path = _config(request).media_dir.joinpath(*parts)
    if not path.is_file():
        # Gancio sends the instance's fallback image for a missing file (§2.16), so pages keep a picture.
        return RedirectResponse("/fallbackimage.png", status_code=302)
    return FileResponse(path, media_type="image/jpeg", headers=MEDIA_CACHE)


@router.get("/media/thumb/{name}", openapi_extra=operation(ok=MEDIA))
async def media_thumb(name: str, request: Request) -> Response:
    return _media_response(request, THUMB_FOLDER, name)


@router.get("/media/{name}", openapi_extra=operation(ok=MEDIA))
async def media_file(name: str, request: Request) -> Response:
    return _media_response(request, name)
