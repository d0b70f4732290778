"""Feed routes (gancio-api.md §5.11): RSS, ICS and JSON exports of the agenda, a tag or a place.

The selection is here and in `queries.py`; the documents are written by `feeds.render_rss` and
`feeds.render_ics`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, BinaryIO
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, Response

from piazza.app_state import app_state
from piazza.db.answers import serve_answer
from piazza.errors import NotFound
from piazza.events import exports, feeds, queries
from piazza.events.api import CORS
from piazza.events.openapi import FEED
from piazza.events.schemas import parse_id
from piazza.events.tags import check_tag_exists
from piazza.instance import collection_events as collections
from piazza.instance.settings import FEED_KEYS, get_settings_of
from piazza.openapi import operation

router = APIRouter()

RSS_TYPE = "application/rss+xml; charset=utf-8"
ICS_TYPE = "text/calendar; charset=utf-8"
JSON_TYPE = "application/json"
FORMATS = ("rss", "feed", "ics", "json")
BAD_FORMAT = "Please specify a valid format: rss, feed, ics or json"


def media_type_of(fmt: str) -> str:
    return RSS_TYPE if fmt in ("rss", "feed") else ICS_TYPE if fmt == "ics" else JSON_TYPE


def write_feed(
    file: BinaryIO,
    fmt: str,
    batches: Iterable[list[dict[str, Any]]],
    settings: dict[str, Any],
    *,
    title: str,
    path: str,
    calendar_name: str | None = None,
) -> None:
    """A feed of the events in `batches`, written batch by batch (RSS: its few items at once)."""
    if fmt in ("rss", "feed"):
        body = feeds.render_rss(
            exports.first_of(batches, queries.RSS_LIMIT),
            settings=settings,
            title=title,
            self_url=f"{settings['baseurl']}/feed/rss{path}",
        )
        file.write(body.encode())
    elif fmt == "ics":
        exports.write_ics(file, batches, settings=settings, calendar_name=calendar_name)
    else:
        exports.write_json_array(file, ([queries.export_to_wire(e) for e in batch] for batch in batches))


def write_collection_batches(
    file: BinaryIO, fmt: str, name: str, batches: Iterable[list[dict[str, Any]]], settings: dict[str, Any]
) -> None:
    """A collection's feed: RSS and ICS of feed events (`iter_collection_events(for_feed=True)`); JSON
    of E-collection events, the shape the embeddable widget reads."""
    if fmt == "json":
        exports.write_json_array(file, batches)
        return
    title = f"{settings['title']} - Collection @{name}"
    path = f"/collection/{quote(name, safe='')}"
    write_feed(file, fmt, batches, settings, title=title, path=path, calendar_name=title)


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

    def build(db: Session, file: BinaryIO, now: int) -> int | None:
        settings = get_settings_of(db, base_url, FEED_KEYS)
        # `collection` (default: the `collection_in_home` setting) replaces tags and places (§5.11).
        name = collection or settings.get("collection_in_home")
        if name:
            q = collections.CollectionQuery(
                start_at=now - queries.FEED_LOOKBACK_SECONDS, max=feed_query.limit
            )
            validity = exports.Validity(lookback=queries.FEED_LOOKBACK_SECONDS)
            batches = collections.iter_collection_events(db, str(name), q, for_feed=fmt != "json")
            write_collection_batches(file, fmt, str(name), validity.watch(batches), settings)
            return validity.until
        validity = exports.Validity(lookback=queries.FEED_LOOKBACK_SECONDS, until_start=True)
        batches = validity.watch(queries.iter_feed_events(db, feed_query, now=now))
        write_feed(file, fmt, batches, settings, title=settings["title"], path="")
        return validity.until

    key = answer_key("feed", fmt, collection, feed_query.tags, feed_query.places, feed_query.show_recurrent)
    return await serve_answer(request, key, build, media_type=media_type_of(fmt), headers=CORS)


def answer_key(*parts: Any) -> str:
    """The answer cache's key of a route and its parsed parameters."""
    return json.dumps(parts, separators=(",", ":"), default=list)


@router.get("/feed/{fmt}", openapi_extra=operation(ok=FEED))
async def feed(fmt: str, request: Request) -> Response:
    return await _export(request, fmt)


@router.get("/api/export/{fmt}", openapi_extra=operation(ok=FEED))
async def export(fmt: str, request: Request) -> Response:
    return await _export(request, fmt)


@router.get("/feed/{fmt}/tag/{tag}", openapi_extra=operation(ok=FEED))
async def tag_feed(fmt: str, tag: str, request: Request) -> Response:
    base_url = app_state(request).config.base_url
    # rss and ics as named; any other format is JSON (§5.11)
    fmt = fmt if fmt in ("rss", "feed", "ics") else "json"

    def build(db: Session, file: BinaryIO, now: int) -> int | None:
        if not check_tag_exists(db, tag):
            raise NotFound()
        settings = get_settings_of(db, base_url, FEED_KEYS)
        limit = queries.RSS_LIMIT if fmt in ("rss", "feed") else None
        validity = exports.Validity(lookback=0)
        batches = validity.watch(queries.iter_feed_events_of(db, now=now, tags=[tag], limit=limit))
        title = f"{settings['title']} - Tag #{tag}"
        write_feed(file, fmt, batches, settings, title=title, path=f"/tag/{quote(tag, safe='')}")
        return validity.until

    key = answer_key("tag-feed", fmt, tag)
    return await serve_answer(request, key, build, media_type=media_type_of(fmt), headers=CORS)


@router.get("/feed/{fmt}/place/{name_or_id}", openapi_extra=operation(ok=FEED))
async def place_feed(fmt: str, name_or_id: str, request: Request) -> Response:
    base_url = app_state(request).config.base_url
    fmt = fmt if fmt in ("rss", "feed", "ics") else "json"

    def build(db: Session, file: BinaryIO, now: int) -> int | None:
        place = queries.check_feeds_place(db, name_or_id)
        settings = get_settings_of(db, base_url, FEED_KEYS)
        limit = queries.RSS_LIMIT if fmt in ("rss", "feed") else None
        validity = exports.Validity(lookback=0)
        batches = validity.watch(queries.iter_feed_events_of(db, now=now, place_id=place["id"], limit=limit))
        if fmt == "json":  # {events, place}, as orjson writes the object
            file.write(b'{"events":')
            wire = ([queries.export_to_wire(event) for event in batch] for batch in batches)
            exports.write_json_array(file, wire)
            file.write(b',"place":' + orjson.dumps(place, option=exports.JSON_OPTIONS) + b"}")
        else:
            title = f"{settings['title']} - Place @{place['name']}"
            write_feed(file, fmt, batches, settings, title=title, path=f"/place/{place['id']}")
        return validity.until

    key = answer_key("place-feed", fmt, name_or_id)
    return await serve_answer(request, key, build, media_type=media_type_of(fmt), headers=CORS)
