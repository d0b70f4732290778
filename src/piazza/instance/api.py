from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, PlainTextResponse

from piazza.accounts.forms import optional_bool, read_body
from piazza.app_state import app_state
from piazza.errors import Invalid, NotFound
from piazza.imaging import in_turn
from piazza.instance import images, reachability, service
from piazza.instance.openapi import SETTING_BODY, SMTP_BODY, image_upload_body
from piazza.mail import wake_mail_worker
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import TEXT, json_content, operation
from piazza.responses import JSONResponse

router = APIRouter()


@router.get(
    "/api/reachable",
    tags=["instance"],
    response_class=PlainTextResponse,
    openapi_extra=operation(ok=TEXT, responses={"400": ("The base URL does not reach this server", TEXT)}),
)
async def reachable(request: Request) -> PlainTextResponse:
    """Gancio §2.1: `200 OK` when `<base_url>/api/ping` answers, else `400 Bad Request`."""
    if await reachability.base_url_answers(app_state(request).config.base_url):
        return PlainTextResponse("OK")
    raise Invalid()


@router.get(
    "/api/locale/{locale}",
    tags=["instance"],
    openapi_extra=operation(responses={"404": ("Piazza has no catalogue for this locale", TEXT)}),
)
async def locale_catalogue(locale: str) -> JSONResponse:
    """Gancio §2.13 serves its web app's message catalogues here. Piazza renders its own pages and has
    no catalogues, so every locale is unknown: `404`, as Gancio answers for a locale it lacks."""
    raise NotFound()


@router.get("/api/settings", tags=["instance"], openapi_extra=operation(ok=json_content({"type": "object"})))
async def all_settings(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> JSONResponse:
    state = app_state(request)
    return JSONResponse(await state.db.read(service.settings_for_admin, state.config.base_url))


@router.post(
    "/api/settings",
    tags=["instance"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=SETTING_BODY),
)
async def set_one_setting(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    """Gancio §2.9: `{key, value, is_secret?}`, any JSON value; a missing key is 400 (Gancio 500s)."""
    body = await read_body(request)
    is_secret = optional_bool(body, "is_secret") or False
    await app_state(request).db.write(
        service.update_setting, body.get("key"), body.get("value"), is_secret=is_secret
    )
    return PlainTextResponse("OK")


@router.get(
    "/api/settings/smtp", tags=["instance"], openapi_extra=operation(ok=json_content({"type": "object"}))
)
async def smtp_settings(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    return JSONResponse(await app_state(request).db.read(service.smtp_for_admin))


@router.post(
    "/api/settings/smtp",
    tags=["instance"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=SMTP_BODY),
)
async def save_smtp_settings(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    """Save `{smtp: {...}}` and queue a test mail to admin_email (posting the password mask back keeps
    the stored password)."""
    body = await read_body(request)
    if "smtp" not in body:
        raise Invalid("smtp required", field="smtp")
    state = app_state(request)
    await state.db.write(service.save_smtp, body["smtp"])
    wake_mail_worker(state)
    return PlainTextResponse("OK")


async def _upload(request: Request, image: images.InstanceImage) -> PlainTextResponse:
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get(image.field)
    png = None
    if isinstance(upload, UploadFile):
        data = await upload.read(images.MAX_UPLOAD_BYTES + 1)
        await form.close()
        if data:
            png = await in_turn(images.to_png, data, image.width)
    state = app_state(request)
    # No file resets to the bundled default and answers 200 (Gancio never answers, §3.8).
    await state.db.write(images.save_image, state.config.data_dir, image, png)
    return PlainTextResponse("OK")


@router.post(
    "/api/settings/logo",
    tags=["instance"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=image_upload_body("logo")),
)
async def upload_logo(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    return await _upload(request, images.IMAGES["logo"])


@router.post(
    "/api/settings/fallbackImage",
    tags=["instance"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=image_upload_body("fallbackImage")),
)
async def upload_fallback_image(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    return await _upload(request, images.IMAGES["fallbackImage"])


@router.post(
    "/api/settings/headerImage",
    tags=["instance"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=image_upload_body("headerImage")),
)
async def upload_header_image(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    return await _upload(request, images.IMAGES["headerImage"])


def _serve(image: images.InstanceImage) -> Callable[[Request], Awaitable[FileResponse]]:
    async def serve(request: Request) -> FileResponse:
        state = app_state(request)
        path = await state.db.read(images.image_path, state.config.data_dir, image)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": images.CACHE_CONTROL})

    return serve


for _image in images.IMAGES.values():
    router.add_api_route(
        _image.url, _serve(_image), methods=["GET"], tags=["instance"], include_in_schema=False
    )
