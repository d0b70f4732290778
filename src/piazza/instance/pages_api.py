"""Static page routes (the addendum of gancio-api.md). The web pages show them at /p/{slug}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse

from piazza.app_state import app_state
from piazza.instance import pages_service as service
from piazza.instance.bodies import path_id_or_404, read_body
from piazza.instance.openapi import PAGE, PAGE_BODY
from piazza.oauth.bearer import Caller, get_caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import array_of, json_content, operation
from piazza.responses import JSONResponse

router = APIRouter(tags=["pages"])


@router.get("/api/pages", openapi_extra=operation(ok=json_content(array_of(PAGE))))
async def list_pages(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    pages = await app_state(request).db.read(service.list_pages, include_hidden=caller.may(Permission.ADMIN))
    return JSONResponse(pages)


@router.post("/api/pages", openapi_extra=operation(body=PAGE_BODY, ok=json_content(PAGE)))
async def create_page(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> JSONResponse:
    body = await read_body(request)
    return JSONResponse(await app_state(request).db.write(service.create_page, body))


@router.get("/api/pages/{slug}", openapi_extra=operation(ok=json_content(PAGE)))
async def get_page(slug: str, request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    page = await app_state(request).db.read(
        service.get_page, slug, include_hidden=caller.may(Permission.ADMIN)
    )
    return JSONResponse(page)


@router.put("/api/pages/{page_id}", openapi_extra=operation(body=PAGE_BODY, ok=json_content(PAGE)))
async def update_page(
    page_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    return JSONResponse(await app_state(request).db.write(service.update_page, path_id_or_404(page_id), body))


@router.delete("/api/pages/{page_id}", response_class=PlainTextResponse)
async def delete_page(
    page_id: str, request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    await app_state(request).db.write(service.delete_page, path_id_or_404(page_id))
    return PlainTextResponse("OK")
