"""Gancio's place and tag routes (gancio-api.md §2.5, §2.6)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse, Response

from piazza.app_state import app_state
from piazza.errors import NotFound
from piazza.events import geocoding, places, queries, tags
from piazza.events.api import CORS
from piazza.events.openapi import EVENT_LIST, PLACE_SHORT, PLACE_UPDATE_BODY, TAG_RENAME_BODY
from piazza.events.schemas import read_event_body
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import ANY_JSON, STRING, TEXT, array_of, json_content, object_of, operation
from piazza.responses import JSONResponse

router = APIRouter()


@router.get("/api/place", openapi_extra=operation(ok=json_content(array_of(PLACE_SHORT))))
async def search_places(request: Request, search: str | None = None) -> Response:
    found = await app_state(request).db.read(places.search_places, search)
    return JSONResponse(found, headers=CORS)


@router.get(
    "/api/placeOSM/{provider}/{query}",
    openapi_extra=operation(
        ok=json_content(ANY_JSON),
        ok_description="The provider's JSON, unchanged",
        responses={
            "502": ("The provider failed, answered too much, or its address is not allowed", TEXT),
            "503": ("Too many lookups are waiting for the provider", TEXT),
            "504": ("The provider did not answer in time", TEXT),
        },
    ),
)
async def geocode(provider: str, query: str, request: Request) -> Response:
    """Gancio §2.11: `provider` is `Nominatim` or `Photon`; 403 unless `allow_geolocation`."""
    state = request.app.state
    lookup = await state.db.read_small(geocoding.build_request, state.config.base_url, provider, query)
    return JSONResponse(await state.geocoder.lookup(lookup))


@router.get("/api/places", openapi_extra=operation(ok=json_content(array_of({"type": "object"}))))
async def list_places(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    return JSONResponse(await app_state(request).db.read(places.list_places))


@router.put(
    "/api/place", openapi_extra=operation(body=PLACE_UPDATE_BODY, ok=json_content({"type": "object"}))
)
async def update_place(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    data, _ = await read_event_body(request)
    return JSONResponse(await app_state(request).db.write(places.update_place, data))


@router.get(
    "/api/place/{name_or_id}",
    openapi_extra=operation(
        ok=json_content(
            object_of({"events": EVENT_LIST, "place": {"type": "object"}}, required=["events", "place"])
        )
    ),
)
async def place_events(name_or_id: str, request: Request) -> Response:
    found = await app_state(request).db.read(queries.place_with_events, name_or_id, now=int(time.time()))
    return JSONResponse(found, headers=CORS)


@router.get("/api/tag", openapi_extra=operation(ok=json_content(array_of(STRING))))
async def search_tags(request: Request, search: str | None = None) -> Response:
    found = await app_state(request).db.read(tags.search_tags, search)
    return JSONResponse(found, headers=CORS)


@router.get("/api/tags", openapi_extra=operation(ok=json_content(array_of({"type": "object"}))))
async def list_tags(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    return JSONResponse(await app_state(request).db.read(tags.list_tags_with_counts))


@router.put("/api/tag", response_class=PlainTextResponse, openapi_extra=operation(body=TAG_RENAME_BODY))
async def rename_tag(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    data, _ = await read_event_body(request)
    await app_state(request).db.write(tags.rename_tag, data.get("tag"), data.get("newTag"))
    return PlainTextResponse("OK")


@router.delete("/api/tag/{tag}", response_class=PlainTextResponse)
async def delete_tag(
    tag: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> Response:
    await app_state(request).db.write(tags.delete_tag, tag)
    return PlainTextResponse("OK")


@router.get("/api/tag/{tag}", openapi_extra=operation(ok=json_content(EVENT_LIST)))
async def tag_events(tag: str, request: Request) -> Response:
    if not tag.strip():
        raise NotFound()
    found = await app_state(request).db.read(queries.events_of_tags, tag, now=int(time.time()))
    return JSONResponse(found, headers=CORS)
