"""Gancio's place and tag routes (gancio-api.md §2.5, §2.6)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from piazza.errors import NotFound
from piazza.events import places, queries, tags
from piazza.events.api import CORS
from piazza.events.schemas import read_event_body
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission

router = APIRouter()


@router.get("/api/place")
async def search_places(request: Request, search: str | None = None) -> Response:
    found = await request.app.state.db.read(places.search_places, search)
    return JSONResponse(found, headers=CORS)


@router.get("/api/places")
async def list_places(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    return JSONResponse(await request.app.state.db.read(places.list_places))


@router.put("/api/place")
async def update_place(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    data, _ = await read_event_body(request)
    return JSONResponse(await request.app.state.db.write(places.update_place, data))


@router.get("/api/place/{name_or_id}")
async def place_events(name_or_id: str, request: Request) -> Response:
    found = await request.app.state.db.read(queries.place_with_events, name_or_id, now=int(time.time()))
    return JSONResponse(found, headers=CORS)


@router.get("/api/tag")
async def search_tags(request: Request, search: str | None = None) -> Response:
    found = await request.app.state.db.read(tags.search_tags, search)
    return JSONResponse(found, headers=CORS)


@router.get("/api/tags")
async def list_tags(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    return JSONResponse(await request.app.state.db.read(tags.list_tags_with_counts))


@router.put("/api/tag")
async def rename_tag(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> Response:
    data, _ = await read_event_body(request)
    await request.app.state.db.write(tags.rename_tag, data.get("tag"), data.get("newTag"))
    return PlainTextResponse("OK")


@router.delete("/api/tag/{tag}")
async def delete_tag(
    tag: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> Response:
    await request.app.state.db.write(tags.delete_tag, tag)
    return PlainTextResponse("OK")


@router.get("/api/tag/{tag}")
async def tag_events(tag: str, request: Request) -> Response:
    if not tag.strip():
        raise NotFound()
    found = await request.app.state.db.read(queries.events_of_tags, tag, now=int(time.time()))
    return JSONResponse(found, headers=CORS)
