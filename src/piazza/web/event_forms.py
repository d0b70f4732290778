"""Add, edit and delete an event from the pages, through the events service (the API's rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from piazza.app_state import app_state
from piazza.errors import Forbidden, Invalid, NotFound, PiazzaError
from piazza.events import queries, service
from piazza.events.images import ProcessedImage, delete_image_files, process_image
from piazza.events.places import search_places
from piazza.events.schemas import read_event_body
from piazza.events.tags import search_tags
from piazza.imaging import in_turn
from piazza.oauth.api import form_pairs
from piazza.web.public import SUGGESTIONS
from piazza.web.render import Layout, error_page, load, render
from piazza.web.session import check_csrf, session_user_id

router = APIRouter(include_in_schema=False)

EXPIRED = "The form expired. Please reload the page and try again."
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def _actor(layout: Layout) -> service.Actor:
    visitor = layout.visitor
    if visitor is None:
        return service.Actor(user_id=None)
    return service.Actor(user_id=visitor.id, is_moderator=visitor.is_moderator)


def _suggestions(db: Session) -> dict[str, Any]:
    return {"places": search_places(db, None, SUGGESTIONS), "tags": search_tags(db, None, SUGGESTIONS)}


def _timestamp(value: Any, layout: Layout, field: str) -> str | None:
    """A `datetime-local` value in the instance time zone, as the unix time the service takes."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        local = datetime.strptime(value.strip()[:16], DATETIME_LOCAL).replace(tzinfo=layout.zone)
    except ValueError:
        raise Invalid(f"{field.replace('_', ' ')} is not a date and time", field=field) from None
    return str(int(local.timestamp()))


def _service_data(db: Session, layout: Layout, form: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as the events service reads an API body."""
    data = {
        key: form[key]
        for key in ("title", "description", "place_name", "place_address", "image")
        if key in form
    }
    for field in ("start_datetime", "end_datetime"):
        data[field] = _timestamp(form.get(field), layout, field) or ""
    raw_tags = form.get("tags") or []
    data["tags"] = [tag.strip() for value in raw_tags for tag in value.split(",") if tag.strip()]
    frequency = form.get("recurrent") or ""
    if frequency:
        data["recurrent"] = {"frequency": frequency}
    name, address = str(form.get("place_name", "")).strip(), str(form.get("place_address", "")).strip()
    if name and not address:
        # A known place chosen from the suggestions needs no address again.
        for place in search_places(db, name, SUGGESTIONS):
            if place["name"].lower() == name.lower():
                data["place_address"] = place["address"]
                break
    return data


def _form_values(event: dict[str, Any], layout: Layout) -> dict[str, Any]:
    def local(timestamp: int | None) -> str:
        return datetime.fromtimestamp(timestamp, layout.zone).strftime(DATETIME_LOCAL) if timestamp else ""

    place = event.get("place") or {}
    recurrent = event.get("recurrent") or {}
    return {
        "title": event["title"],
        "description": event.get("description") or "",
        "start_datetime": local(event["start_datetime"]),
        "end_datetime": local(event.get("end_datetime")),
        "place_name": place.get("name", ""),
        "place_address": place.get("address", ""),
        "tags": ", ".join(event.get("tags") or []),
        "recurrent": recurrent.get("frequency", "") if isinstance(recurrent, dict) else "",
        "has_image": bool(event.get("media")),
    }


def _echo(form: dict[str, Any]) -> dict[str, Any]:
    """What the person typed, to show the form again after an error."""
    values: dict[str, Any] = {
        key: str(form.get(key, "")) for key in ("title", "description", "start_datetime", "end_datetime")
    }
    values.update({key: str(form.get(key, "")) for key in ("place_name", "place_address", "recurrent")})
    values["tags"] = ", ".join(form.get("tags") or [])
    values["has_image"] = bool(form.get("image"))
    return values


# --- add ----------------------------------------------------------------------------------------------


def _add_form(db: Session, layout: Layout) -> dict[str, Any]:
    return _suggestions(db)


@router.get("/add")
async def add_page(request: Request) -> Response:
    layout, data = await load(request, _add_form)
    assert data is not None  # noqa: S101
    return render(request, "event_form.html", layout, editing=None, values={}, error=None, **data)


def _create(
    db: Session,
    layout: Layout,
    form: dict[str, Any],
    image: ProcessedImage | None,
    context: Any,
    has_session_user: bool,
) -> dict[str, Any]:
    if has_session_user and layout.visitor is None:
        # The session's login ended (logout elsewhere, a password change): ask to log in again rather
        # than post the event anonymously, which the person did not mean (and the rate limits counted
        # the request as theirs, not as a visitor's).
        raise Forbidden()
    result = service.create_event(db, _actor(layout), _service_data(db, layout, form), image, context)
    return result.event


def _update(
    db: Session, layout: Layout, slug: str, form: dict[str, Any], image: ProcessedImage | None, context: Any
) -> tuple[dict[str, Any], list[str]]:
    event_id = _event_id(db, layout, slug)
    data = _service_data(db, layout, form) | {"id": event_id}
    result = service.update_event(db, _actor(layout), data, image, context)
    return result.event, result.obsolete_media


async def _write(request: Request, slug: str | None) -> Response:
    try:
        form, upload = await read_event_body(request)
    except PiazzaError as exc:
        return await error_page(request, exc.message, exc.status)
    if not check_csrf(request, form.get("csrf_token")):
        return await error_page(request, EXPIRED, 403)
    config = app_state(request).config
    context = service.EventWriteContext(media_dir=config.media_dir)
    image = None
    try:
        if upload is not None:
            with upload.file:
                image = await in_turn(process_image, upload.file)
        try:
            layout, written = await _write_once(request, slug, form, image, context)
        except IntegrityError:  # two writers chose the same free slug: run again (see events/api.py)
            layout, written = await _write_once(request, slug, form, image, context)
    except PiazzaError as exc:
        if image is not None:
            delete_image_files(config.media_dir, image.name)
        return await _form_error(request, slug, form, exc)
    assert written is not None  # noqa: S101
    event, obsolete = written
    service.remove_media_files(config.media_dir, obsolete)
    if not event["is_visible"] and layout.visitor is None:
        return render(request, "event_submitted.html", layout, event=event)
    return RedirectResponse(f"/event/{event['slug'] or event['id']}", status_code=303)


async def _write_once(
    request: Request, slug: str | None, form: dict[str, Any], image: ProcessedImage | None, context: Any
) -> tuple[Layout, tuple[dict[str, Any], list[str]] | None]:
    if slug is None:
        has_session_user = session_user_id(request) is not None
        layout, event = await load(request, _create, form, image, context, has_session_user, write=True)
        assert event is not None  # noqa: S101
        return layout, (event, [])
    return await load(request, _update, slug, form, image, context, write=True)


async def _form_error(request: Request, slug: str | None, form: dict[str, Any], exc: PiazzaError) -> Response:
    if slug is not None and exc.status in (403, 404):
        return await error_page(request, "You may not edit this event.", exc.status)
    if slug is None and exc.status == 403:
        return await error_page(request, "Log in to add an event.", 403)
    layout, data = await load(request, _add_form)
    assert data is not None  # noqa: S101
    return render(
        request,
        "event_form.html",
        layout,
        exc.status,
        editing=slug,
        values=_echo(form),
        error=exc.message,
        **data,
    )


@router.post("/add")
async def add_submit(request: Request) -> Response:
    return await _write(request, None)


# --- edit and delete ----------------------------------------------------------------------------------


def _event_id(db: Session, layout: Layout, slug: str) -> int:
    """The id of the event `slug` names, once the visitor may change it (NotFound, Forbidden)."""
    visitor = layout.visitor
    if visitor is None:
        raise NotFound()
    event, _ = queries.get_event_detail(db, slug, user_id=visitor.id, is_moderator=visitor.is_moderator)
    return service.get_event_for_write(db, _actor(layout), event["id"]).id


def _edit_form(db: Session, layout: Layout, slug: str) -> dict[str, Any]:
    _event_id(db, layout, slug)
    visitor = layout.visitor
    assert visitor is not None  # noqa: S101  (_event_id refused anonymous visitors)
    event, _ = queries.get_event_detail(db, slug, user_id=visitor.id, is_moderator=visitor.is_moderator)
    return {"event": event, **_suggestions(db)}


@router.get("/event/{slug}/edit")
async def edit_page(request: Request, slug: str) -> Response:
    try:
        layout, data = await load(request, _edit_form, slug)
    except PiazzaError as exc:
        return await error_page(request, "You may not edit this event.", exc.status)
    assert data is not None  # noqa: S101
    event = data.pop("event")
    values = _form_values(event, layout)
    return render(request, "event_form.html", layout, editing=slug, values=values, error=None, **data)


# The form posts to a fixed path (the event in the query), so the request limits can give it the upload
# cap of the image routes (limits/requests.py UPLOAD_ROUTES matches exact paths).
@router.post("/event/edit")
async def edit_submit(request: Request, event: str) -> Response:
    return await _write(request, event)


def _delete(db: Session, layout: Layout, event_id: str) -> list[str]:
    return service.delete_event(db, _actor(layout), event_id)


@router.post("/event/{event_id}/delete")
async def delete_submit(request: Request, event_id: str) -> Response:
    fields = dict(reversed(await form_pairs(request)))
    if not check_csrf(request, fields.get("csrf_token")):
        return await error_page(request, EXPIRED, 403)
    try:
        _layout, obsolete = await load(request, _delete, event_id, write=True)
    except PiazzaError as exc:
        return await error_page(request, "You may not delete this event.", exc.status)
    service.remove_media_files(app_state(request).config.media_dir, obsolete or [])
    return RedirectResponse("/", status_code=303)
