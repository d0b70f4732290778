"""Feed routes (gancio-api.md §5.11): RSS, ICS and JSON exports of the agenda, a tag or a place.

The selection is here and in `queries.py`; the documents are written by `feeds.render_rss` and
`feeds.render_ics`.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, Response

from piazza.app_state import app_state
from piazza.errors import NotFound
from piazza.events import feeds, queries
from piazza.events.api import CORS
from piazza.events.openapi import FEED
from piazza.events.schemas import parse_id
from piazza.events.tags import check_tag_exists
from piazza.instance import collection_events as collections
from piazza.instance.settings import FEED_KEYS, get_settings_of
from piazza.openapi import operation
from piazza.responses import JSONResponse

router = APIRouter()

RSS_TYPE = "application/rss+xml; charset=utf-8"
ICS_TYPE = "text/calendar; charset=utf-8"
FORMATS = ("rss", "feed", "ics", "json")
BAD_FORMAT = "Please specify a valid format: rss, feed, ics or json"


def _feed_response(
    events: list[dict[str, Any]], fmt: str, settings: dict[str, Any], *, title: str, path: str
) -> Response:
    if fmt in ("rss", "feed"):
        body = feeds.render_rss(
            events[: queries.RSS_LIMIT],
            settings=settings,
            title=title,
            self_url=f"{settings['baseurl']}/feed/rss{path}",
        )
        return Response(body, media_type=RSS_TYPE, headers=CORS)
    if fmt == "ics":
        return Response(feeds.render_ics(events, settings=settings), media_type=ICS_TYPE, headers=CORS)
    return JSONResponse([queries.export_to_wire(event) for event in events], headers=CORS)


def collection_feed_response(
    events: list[dict[str, Any]], fmt: str, settings: dict[str, Any], *, name: str
) -> Response:
    """A collection's feed: RSS and ICS from feed events; JSON in the E-collection shape the widget reads."""
    if fmt == "json":
        return JSONResponse(events, headers=CORS)
    title = f"{settings['title']} - Collection @{name}"
    if fmt == "ics":
        body = feeds.render_ics(events, settings=settings, calendar_name=title)
        return Response(body, media_type=ICS_TYPE, headers=CORS)
    body = feeds.render_rss(
        events[: queries.RSS_LIMIT],
        settings=settings,
        title=title,
        self_url=f"{settings['baseurl']}/feed/rss/collection/{quote(name, safe='')}",
    )
    return Response(body, media_type=RSS_TYPE, headers=CORS)


def load_collection_feed(
    db: Session, fmt: str, name: str, q: collections.CollectionQuery
) -> list[dict[str, Any]]:
    """The events of a collection feed; raises NotFound for an unknown collection."""
    if fmt == "json":
        return collections.get_collection_events(db, name, q)
    return collections.collection_feed_events(db, name, q)


async def _export(request: Request, fmt: str) -> Response:
    if fmt not in FORMATS:
        # Gancio sends this text with 200 by accident (§5.11); the status it meant is 404.
        return PlainTextResponse(BAD_FORMAT, status_code=404, headers=CORS)
    params = request.query_params
    collection = params.get("collection")
    split = [part.strip() for value in params.getlist("tags") for part in value.split(",")]
    place_ids = [parse_id(part) for value in params.getlist("places") for part in value.split(",")]
    feed_query = queries.FeedQuery(
        tags=tuple(tag for tag in split if tag),
        places=tuple(p for p in place_ids if p is not None),
        show_recurrent=bool(params.get("show_recurrent")),  # any non-empty value, as Gancio reads it
        limit=queries.RSS_LIMIT if fmt in ("rss", "feed") else None,
    )
    base_url = app_state(request).config.base_url

    def load(db: Session) -> tuple[list[dict[str, Any]], dict[str, Any], str | None]:
        settings = get_settings_of(db, base_url, FEED_KEYS)
        # `collection` (default: the `collection_in_home` setting) replaces tags and places (§5.11).
        name = collection or settings.get("collection_in_home")
        if name:
            q = collections.CollectionQuery(
                start_at=int(time.time()) - queries.FEED_LOOKBACK_SECONDS, max=feed_query.limit
            )
            return load_collection_feed(db, fmt, str(name), q), settings, str(name)
        return queries.feed_events(db, feed_query, now=int(time.time())), settings, None

    db = app_state(request).db
    # An RSS feed is a page of RSS_LIMIT events: a small read (Database.read_small). ICS and JSON
    # exports have no limit.
    events, settings, name = await (db.read_small if feed_query.limit else db.read)(load)
    if name is not None:
        return collection_feed_response(events, fmt, settings, name=name)
    return _feed_response(events, fmt, settings, title=settings["title"], path="")


@router.get("/feed/{fmt}", openapi_extra=operation(ok=FEED))
async def feed(fmt: str, request: Request) -> Response:
    return await _export(request, fmt)


@router.get("/api/export/{fmt}", openapi_extra=operation(ok=FEED))
async def export(fmt: str, request: Request) -> Response:
    return await _export(request, fmt)


@router.get("/feed/{fmt}/tag/{tag}", openapi_extra=operation(ok=FEED))
async def tag_feed(fmt: str, tag: str, request: Request) -> Response:
    base_url = app_state(request).config.base_url

    def load(db: Session) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if not check_tag_exists(db, tag):
            raise NotFound()
        limit = queries.RSS_LIMIT if fmt in ("rss", "feed") else None
        events = queries.feed_events_of(db, now=int(time.time()), tags=[tag], limit=limit)
        return events, get_settings_of(db, base_url, FEED_KEYS)

    events, settings = await app_state(request).db.read(load)
    # rss and ics as named; any other format is JSON (§5.11)
    fmt = fmt if fmt in ("rss", "feed", "ics") else "json"
    title = f"{settings['title']} - Tag #{tag}"
    return _feed_response(events, fmt, settings, title=title, path=f"/tag/{quote(tag, safe='')}")


@router.get("/feed/{fmt}/place/{name_or_id}", openapi_extra=operation(ok=FEED))
async def place_feed(fmt: str, name_or_id: str, request: Request) -> Response:
    base_url = app_state(request).config.base_url

    def load(db: Session) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        place = queries.check_feeds_place(db, name_or_id)
        limit = queries.RSS_LIMIT if fmt in ("rss", "feed") else None
        events = queries.feed_events_of(db, now=int(time.time()), place_id=place["id"], limit=limit)
        return events, place, get_settings_of(db, base_url, FEED_KEYS)

    events, place, settings = await app_state(request).db.read(load)
    if fmt not in ("rss", "feed", "ics"):
        wire = [queries.export_to_wire(event) for event in events]
        return JSONResponse({"events": wire, "place": place}, headers=CORS)
    title = f"{settings['title']} - Place @{place['name']}"
    return _feed_response(events, fmt, settings, title=title, path=f"/place/{place['id']}")
