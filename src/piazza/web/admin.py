"""The pages for admins and editors: the moderation queue, users and instance settings.

Routes are thin: check the CSRF token of a POST, make one database call to a function of
`admin_service` (which checks the login and role, then calls the same services the API uses), and render
a page or redirect (303 after a POST). An anonymous visitor is sent to /login and back; a logged-in
person without the role gets a 403 page; service errors are shown on the page with their 4xx status.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from piazza.accounts.models import Role
from piazza.app_state import app_state
from piazza.errors import Invalid, PiazzaError
from piazza.events import service as events
from piazza.imaging import in_turn
from piazza.instance import images
from piazza.instance.service import SECRET_MASK
from piazza.mail import wake_mail_worker
from piazza.oauth.scopes import Permission
from piazza.web import admin_service as admin
from piazza.web.admin_service import NotLoggedIn
from piazza.web.render import Layout, error_page, load, render, templates
from piazza.web.security import secure_headers
from piazza.web.session import check_csrf

router = APIRouter(include_in_schema=False)

# Gancio's i18n keys that the services raise, in words for the page.
MESSAGES = {"error.email_taken": "This email is already in use."}
# What a redirect after a successful POST may announce (`?done=`); anything else shows nothing.
NOTICES = {
    "confirmed": "The event is confirmed and now public.",
    "rejected": "The event is deleted.",
    "invited": "The user is created; they got a mail to choose a password.",
    "updated": "The user is updated.",
    "deleted": "The user is deleted.",
    "settings": "The settings are saved.",
    "smtp": "The SMTP settings are saved.",
    "smtp-test": "The SMTP settings are saved and a test mail is on its way to the admin email.",
    "smtp-no-admin": "The SMTP settings are saved. No test mail: set the admin email first.",
    "image": "The image is saved.",
}
FLAG_LABELS = {
    "allow_registration": "Anyone may register (an admin activates them)",
    "allow_anon_event": "Visitors may add events without an account (they wait for moderation)",
    "allow_recurrent_event": "Recurrent events are allowed",
    "allow_multidate_event": "Events over several days are allowed",
    "recurrent_event_visible": "Occurrences of recurrent events are shown by default",
    "enable_moderation": "Moderation messages on events",
    "enable_report": "Visitors may report events",
}
IMAGE_LABELS = {"logo": "Logo", "fallbackImage": "Fallback image", "headerImage": "Header image"}
TIMEZONES = sorted(zoneinfo.available_timezones())
EXPIRED_FORM = "The form expired. Please go back, reload the page and try again."
MAX_IMAGE_FORM_FIELDS = 10


def _local_time(timestamp: int | None, zone: ZoneInfo) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).strftime("%a %d %b %Y, %H:%M")


def _local_iso(timestamp: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).isoformat()


templates.env.filters["admin_time"] = _local_time
templates.env.filters["admin_iso"] = _local_iso


def _page(request: Request, name: str, layout: Layout, status: int = 200, **context: Any) -> Response:
    context.setdefault("notice", NOTICES.get(request.query_params.get("done", "")))
    context.setdefault("error", None)
    return render(request, name, layout, status, **context)


def _redirect(location: str) -> Response:
    return secure_headers(RedirectResponse(location, status_code=303))


def _message(exc: PiazzaError) -> str:
    return MESSAGES.get(exc.message, exc.message)


async def _guarded(request: Request, page: Callable[[], Awaitable[Response]]) -> Response:
    """Run a page: no valid login → /login?next=<this page>; no role or no such thing → an error page."""
    try:
        return await page()
    except NotLoggedIn:
        return _redirect("/login?" + urlencode({"next": request.url.path}))
    except PiazzaError as exc:
        return await error_page(request, _message(exc), exc.status)


async def _form(request: Request) -> dict[str, str] | None:
    """The POSTed form as a dict of strings (first value wins), or None when the CSRF token is wrong."""
    form = await request.form(max_files=0)
    fields = {key: value for key, value in reversed(form.multi_items()) if isinstance(value, str)}
    return fields if check_csrf(request, fields.get("csrf_token")) else None


# --- moderation ---------------------------------------------------------------------------------------


@router.get("/admin")
async def admin_home() -> Response:
    return _redirect("/admin/moderation")


@router.get("/admin/moderation")
async def moderation_page(request: Request) -> Response:
    async def page() -> Response:
        layout, view = await load(request, admin.moderation_view)
        return _page(request, "admin/moderation.html", layout, **view)

    return await _guarded(request, page)


@router.post("/admin/moderation/{event_id}/confirm")
async def confirm_event(request: Request, event_id: int) -> Response:
    async def page() -> Response:
        if await _form(request) is None:
            return await error_page(request, EXPIRED_FORM, 403)
        await load(request, admin.confirm_event, event_id, write=True)
        return _redirect("/admin/moderation?done=confirmed")

    return await _guarded(request, page)


@router.post("/admin/moderation/{event_id}/reject")
async def reject_event(request: Request, event_id: int) -> Response:
    async def page() -> Response:
        if await _form(request) is None:
            return await error_page(request, EXPIRED_FORM, 403)
        _, obsolete = await load(request, admin.reject_event, event_id, write=True)
        events.remove_media_files(app_state(request).config.media_dir, obsolete)
        return _redirect("/admin/moderation?done=rejected")

    return await _guarded(request, page)


# --- users ----------------------------------------------------------------------------------------------


async def _users_page(request: Request, status: int = 200, **context: Any) -> Response:
    layout, view = await load(request, admin.users_view)
    return _page(
        request, "admin/users.html", layout, status, roles=[r.value for r in Role], **view, **context
    )


@router.get("/admin/users")
async def users_page(request: Request) -> Response:
    return await _guarded(request, lambda: _users_page(request))


@router.post("/admin/users")
async def invite_user(request: Request) -> Response:
    async def page() -> Response:
        form = await _form(request)
        if form is None:
            return await error_page(request, EXPIRED_FORM, 403)
        state = app_state(request)
        email, role = form.get("email", ""), form.get("role", "")
        try:
            await load(request, admin.invite_user, state.config, email, role, write=True)
        except PiazzaError as exc:
            if exc.status == 403:
                raise
            return await _users_page(request, exc.status, error=_message(exc), email=email)
        wake_mail_worker(state)
        return _redirect("/admin/users?done=invited")

    return await _guarded(request, page)


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, user_id: int) -> Response:
    async def page() -> Response:
        form = await _form(request)
        if form is None:
            return await error_page(request, EXPIRED_FORM, 403)
        state = app_state(request)
        try:
            await load(request, admin.update_user, state.config, user_id, form, write=True)
        except PiazzaError as exc:
            if exc.status in (403, 404):
                raise
            return await _users_page(request, exc.status, error=_message(exc))
        wake_mail_worker(state)  # an activation mails the user
        return _redirect("/admin/users?done=updated")

    return await _guarded(request, page)


@router.get("/admin/users/{user_id}/delete")
async def delete_user_page(request: Request, user_id: int) -> Response:
    async def page() -> Response:
        layout, view = await load(request, admin.user_view, user_id)
        return _page(request, "admin/user_delete.html", layout, **view)

    return await _guarded(request, page)


@router.post("/admin/users/{user_id}/delete")
async def delete_user(request: Request, user_id: int) -> Response:
    async def page() -> Response:
        if await _form(request) is None:
            return await error_page(request, EXPIRED_FORM, 403)
        try:
            await load(request, admin.delete_user, user_id, write=True)
        except PiazzaError as exc:
            if exc.status in (403, 404):
                raise
            return await _users_page(request, exc.status, error=_message(exc))
        return _redirect("/admin/users?done=deleted")

    return await _guarded(request, page)


# --- settings -------------------------------------------------------------------------------------------


async def _settings_page(request: Request, status: int = 200, **context: Any) -> Response:
    state = app_state(request)
    layout, view = await load(request, admin.settings_view, state.config.base_url)
    if "form" in context:  # show what was posted, not what is stored, next to the error
        view["settings"] = view["settings"] | context.pop("form")
    smtp = view["settings"].get("smtp") or {}
    return _page(
        request,
        "admin/settings.html",
        layout,
        status,
        smtp=smtp,
        smtp_auth=smtp.get("auth") or {},
        mask=SECRET_MASK,
        flags=admin.FLAG_SETTINGS,
        flag_labels=FLAG_LABELS,
        image_fields=images.IMAGES,
        image_labels=IMAGE_LABELS,
        timezones=TIMEZONES,
        **view,
        **context,
    )


@router.get("/admin/settings")
async def settings_page(request: Request) -> Response:
    return await _guarded(request, lambda: _settings_page(request))


@router.post("/admin/settings")
async def save_settings(request: Request) -> Response:
    async def page() -> Response:
        form = await _form(request)
        if form is None:
            return await error_page(request, EXPIRED_FORM, 403)
        try:
            await load(request, admin.save_settings, form, write=True)
        except PiazzaError as exc:
            if exc.status == 403:
                raise
            posted = {key: form.get(key, "") for key in admin.TEXT_SETTINGS} | {
                key: form.get(key) == "on" for key in admin.FLAG_SETTINGS
            }
            return await _settings_page(request, exc.status, error=_message(exc), form=posted)
        return _redirect("/admin/settings?done=settings")

    return await _guarded(request, page)


@router.post("/admin/settings/smtp")
async def save_smtp(request: Request) -> Response:
    async def page() -> Response:
        form = await _form(request)
        if form is None:
            return await error_page(request, EXPIRED_FORM, 403)
        state = app_state(request)
        send_test = form.get("action") == "test"
        try:
            _, queued = await load(request, admin.save_smtp, form, send_test, write=True)
        except PiazzaError as exc:
            if exc.status == 403:
                raise
            return await _settings_page(request, exc.status, error=_message(exc))
        if queued:
            wake_mail_worker(state)
        done = "smtp" if not send_test else "smtp-test" if queued else "smtp-no-admin"
        return _redirect(f"/admin/settings?done={done}#smtp")

    return await _guarded(request, page)


@router.post("/admin/settings/image/{field}")
async def upload_image(request: Request, field: str) -> Response:
    async def page() -> Response:
        if field not in images.IMAGES:
            return await error_page(request, "There is no such image.", 404)
        async with request.form(max_files=1, max_fields=MAX_IMAGE_FORM_FIELDS) as form:
            token = form.get("csrf_token")
            if not check_csrf(request, token if isinstance(token, str) else None):
                return await error_page(request, EXPIRED_FORM, 403)
            # Check the role before decoding anything that was sent.
            await load(request, admin.check_staff, Permission.ADMIN)
            upload = form.get("image")
            reset = form.get("action") == "reset"
            data = b""
            if not reset and isinstance(upload, UploadFile):
                data = await upload.read(images.MAX_UPLOAD_BYTES + 1)
        if reset:
            png = None
        elif not data:
            return await _settings_page(request, 400, error="Choose an image file to upload.")
        else:
            try:
                png = await in_turn(images.to_png, data, images.IMAGES[field].width)
            except Invalid as exc:
                return await _settings_page(request, 400, error=f"{_message(exc)}.")
        state = app_state(request)
        await load(request, admin.save_image, state.config.data_dir, field, png, write=True)
        return _redirect("/admin/settings?done=image#images")

    return await _guarded(request, page)
