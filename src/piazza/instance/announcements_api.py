"""Announcement routes (gancio-api.md §2.8)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse

from piazza.app_state import app_state
from piazza.errors import NotFound
from piazza.instance import announcements_service as service
from piazza.instance.bodies import path_id_or_404, read_body
from piazza.instance.openapi import ANNOUNCEMENT, ANNOUNCEMENT_BODY
from piazza.oauth.bearer import Caller, get_caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import array_of, json_content, operation
from piazza.responses import JSONResponse

router = APIRouter(tags=["announcements"])


@router.get("/api/announcements", openapi_extra=operation(ok=json_content(array_of(ANNOUNCEMENT))))
async def list_announcements(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    return JSONResponse(await app_state(request).db.read(service.list_announcements))


@router.post(
    "/api/announcements", openapi_extra=operation(body=ANNOUNCEMENT_BODY, ok=json_content(ANNOUNCEMENT))
)
async def create_announcement(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    return JSONResponse(await app_state(request).db.write(service.create_announcement, body))


@router.get(
    "/api/announcements/{announcement_id}",
    openapi_extra=operation(ok=json_content({"anyOf": [ANNOUNCEMENT, {"type": "null"}]})),
)
async def get_announcement(
    announcement_id: str, request: Request, caller: Caller = Depends(get_caller)
) -> JSONResponse:
    is_admin = caller.may(Permission.ADMIN)
    try:
        found = path_id_or_404(announcement_id)
    except NotFound:
        if is_admin:
            return JSONResponse(None)
        raise
    return JSONResponse(await app_state(request).db.read(service.get_announcement, found, is_admin=is_admin))


@router.put(
    "/api/announcements/{announcement_id}",
    openapi_extra=operation(body=ANNOUNCEMENT_BODY, ok=json_content(ANNOUNCEMENT)),
)
async def update_announcement(
    announcement_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    updated = await app_state(request).db.write(
        service.update_announcement, path_id_or_404(announcement_id), body
    )
    return JSONResponse(updated)


@router.delete("/api/announcements/{announcement_id}", response_class=PlainTextResponse)
async def delete_announcement(
    announcement_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    await app_state(request).db.write(service.delete_announcement, path_id_or_404(announcement_id))
    return PlainTextResponse("OK")
