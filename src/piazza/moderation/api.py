"""Moderation message routes (gancio-api.md §2.4).

`POST /api/event/messages/{id}` is open to anyone (when reports are on); the rate-limit middleware
lists it among Gancio's SPAM-limited paths (§0.7).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse

from piazza.app_state import app_state
from piazza.instance.bodies import path_id_or_404, read_body
from piazza.instance.openapi import MESSAGE_BODY
from piazza.moderation import service
from piazza.oauth.bearer import Caller, get_caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import TEXT, array_of, json_content, operation
from piazza.responses import JSONResponse

router = APIRouter(tags=["moderation"])


@router.post(
    "/api/event/messages/{event_id}",
    openapi_extra=operation(body=MESSAGE_BODY, ok=json_content({"type": "object"})),
)
async def add_message(event_id: str, request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_body(request)
    message = await app_state(request).db.write(service.add_message, caller, path_id_or_404(event_id), body)
    return JSONResponse(message)


@router.get(
    "/api/event/messages/{event_id}", openapi_extra=operation(ok=json_content(array_of({"type": "object"})))
)
async def list_messages(
    event_id: str, request: Request, caller: Caller = Depends(get_caller)
) -> JSONResponse:
    messages = await app_state(request).db.read(service.list_messages, caller, path_id_or_404(event_id))
    return JSONResponse(messages)


@router.put(
    "/api/event/disable_author/{event_id}", response_class=PlainTextResponse, openapi_extra=operation(ok=TEXT)
)
async def disable_author(
    event_id: str, request: Request, caller: Caller = Depends(require(Permission.MODERATE))
) -> PlainTextResponse:
    await request.app.state.db.write(service.disable_author, caller, path_id_or_404(event_id))
    return PlainTextResponse("OK")
