"""Collection and filter routes (gancio-api.md §2.7) and the collection feeds (§5.11)."""

from __future__ import annotations

from dataclasses import replace
from typing import BinaryIO

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, Response

from piazza.app_state import app_state
from piazza.db.answers import serve_answer
from piazza.errors import NotFound
from piazza.events.api import CORS
from piazza.events.exports import Validity, write_json_array
from piazza.events.feed_api import (
    BAD_FORMAT,
    FORMATS,
    JSON_TYPE,
    answer_key,
    media_type_of,
    write_collection_batches,
)
from piazza.events.openapi import FEED
from piazza.events.queries import RSS_LIMIT
from piazza.instance import collection_events as selection
from piazza.instance import collections_service as service
from piazza.instance.bodies import parse_path_id, path_id_or_404, read_body
from piazza.instance.openapi import (
    COLLECTION,
    COLLECTION_BODY,
    FILTER,
    FILTER_CREATE_BODY,
    FILTER_UPDATE_BODY,
)
from piazza.instance.settings import FEED_KEYS, get_settings_of
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import array_of, json_content, operation
from piazza.responses import JSONResponse

router = APIRouter(tags=["collections"])

# Gancio sends `Access-Control-Allow-Origin: *` on the collection events and the feeds (§0.6).


@router.get("/api/collections", openapi_extra=operation(ok=json_content(array_of(COLLECTION))))
async def list_collections(request: Request) -> JSONResponse:
    params = request.query_params
    # `withFilters` counts only as the string "true"; `pin` applies only when `withFilters` is absent,
    # so `withFilters=false&pin=1` lists every collection without filters, as Gancio does (§2.7).
    with_filters = params.get("withFilters", "").strip().lower() == "true"
    pinned_only = "withFilters" not in params and bool(params.get("pin"))
    collections = await app_state(request).db.read(
        service.list_collections, with_filters=with_filters, pinned_only=pinned_only
    )
    return JSONResponse(collections)


@router.get("/api/collections/{name}", openapi_extra=operation(ok=json_content(array_of({"type": "object"}))))
async def events_of_collection(name: str, request: Request) -> Response:
    q = selection.parse_collection_query(request.query_params)
    start_given = selection.start_is_given(request.query_params)

    def build(db: Session, file: BinaryIO, now: int) -> int | None:
        query = q if start_given else replace(q, start_at=now)
        validity = Validity(lookback=None if start_given else 0)
        try:
            batches = selection.iter_collection_events(db, name, query)
        except NotFound:
            batches = iter(())  # Gancio: an unknown collection is an empty one
        write_json_array(file, validity.watch(batches))
        return validity.until

    return await serve_answer(
        request,
        _collection_key("collection", name, q, start_given),
        build,
        media_type=JSON_TYPE,
        headers=CORS,
        keep=start_given or not q.older,  # older events before "now" grow as time passes
    )


def _collection_key(kind: str, name: str, q: selection.CollectionQuery, start_given: bool) -> str:
    start = q.start_at if start_given else None
    return answer_key(kind, name, start, q.end, q.max, q.reverse, q.older, q.show_recurrent)


@router.post("/api/collections", openapi_extra=operation(body=COLLECTION_BODY, ok=json_content(COLLECTION)))
async def create_collection(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    return JSONResponse(await app_state(request).db.write(service.create_collection, body.get("name")))


@router.delete("/api/collection/{collection_id}", response_class=PlainTextResponse)
async def delete_collection(
    collection_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    await app_state(request).db.write(service.delete_collection, path_id_or_404(collection_id))
    return PlainTextResponse("OK")


@router.put(
    "/api/collection/toggle/{collection_id}", openapi_extra=operation(ok=json_content({"type": "boolean"}))
)
async def toggle_collection(
    collection_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    previous = await app_state(request).db.write(service.toggle_collection, path_id_or_404(collection_id))
    return JSONResponse(previous)


@router.put("/api/collection/moveup/{sort_index}", response_class=PlainTextResponse)
async def move_collection_up(
    sort_index: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    try:
        index = int(sort_index.strip())
    except ValueError:
        raise NotFound() from None
    if abs(index) >= 2**31:
        raise NotFound()
    await app_state(request).db.write(service.move_collection_up, index)
    return PlainTextResponse("OK")


@router.get("/api/filter/{collection_id}", openapi_extra=operation(ok=json_content(array_of(FILTER))))
async def list_filters(
    collection_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    found = parse_path_id(collection_id)
    if found is None:
        return JSONResponse([])
    return JSONResponse(await app_state(request).db.read(service.list_filters, found))


@router.post("/api/filter", openapi_extra=operation(body=FILTER_CREATE_BODY, ok=json_content(FILTER)))
async def create_filter(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    return JSONResponse(await app_state(request).db.write(service.create_filter, body))


@router.put(
    "/api/filter/{filter_id}", openapi_extra=operation(body=FILTER_UPDATE_BODY, ok=json_content(FILTER))
)
async def update_filter(
    filter_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    return JSONResponse(
        await app_state(request).db.write(service.update_filter, path_id_or_404(filter_id), body)
    )


@router.delete("/api/filter/{filter_id}", response_class=PlainTextResponse)
async def delete_filter(
    filter_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    await app_state(request).db.write(service.delete_filter, path_id_or_404(filter_id))
    return PlainTextResponse("OK")


@router.get("/feed/{fmt}/collection/{name}", openapi_extra=operation(ok=FEED))
async def collection_feed(fmt: str, name: str, request: Request) -> Response:
    """RSS, ICS or JSON (E-collection, what the embeddable widget reads) of a collection's events."""
    if fmt not in FORMATS:
        # Gancio sends this text with 200 by accident (§5.11); the status it meant is 404.
        return PlainTextResponse(BAD_FORMAT, status_code=404, headers=CORS)
    q = selection.parse_collection_query(request.query_params)
    if fmt in ("rss", "feed") and (q.max is None or q.max > RSS_LIMIT):
        q = replace(q, max=RSS_LIMIT)
    start_given = selection.start_is_given(request.query_params)
    base_url = app_state(request).config.base_url

    def build(db: Session, file: BinaryIO, now: int) -> int | None:
        query = q if start_given else replace(q, start_at=now)
        validity = Validity(lookback=None if start_given else 0)
        batches = selection.iter_collection_events(db, name, query, for_feed=fmt != "json")
        settings = get_settings_of(db, base_url, FEED_KEYS)
        write_collection_batches(file, fmt, name, validity.watch(batches), settings)
        return validity.until

    return await serve_answer(
        request,
        _collection_key(f"collection-feed-{fmt}", name, q, start_given),
        build,
        media_type=media_type_of(fmt),
        headers=CORS,
        keep=start_given or not q.older,
    )
