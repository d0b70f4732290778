"""Authorized apps: every app the person approved, each with a Revoke button (the service behind
`GET /api/clients` and `DELETE /api/clients/{id}`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from piazza.errors import NotFound, PiazzaError
from piazza.oauth.api import form_pairs
from piazza.oauth.scopes import SCOPE_DESCRIPTIONS, Scope
from piazza.oauth.service import list_authorized_apps, revoke_app
from piazza.web.render import Layout, error_page, load, render
from piazza.web.session import check_csrf

router = APIRouter(include_in_schema=False)


def _describe(scopes: str) -> list[str]:
    described = []
    for scope in (scopes or "").split():
        try:
            described.append(SCOPE_DESCRIPTIONS.get(Scope(scope), scope))
        except ValueError:
            described.append(scope)
    return described


def _apps(db: Session, layout: Layout) -> list[dict[str, Any]] | None:
    if layout.visitor is None:
        return None
    apps = list_authorized_apps(db, layout.visitor.id)
    for app in apps:
        app["permissions"] = _describe(app["scopes"])
    return apps


def _login_first() -> Response:
    return RedirectResponse("/login?" + urlencode({"next": "/settings/apps"}), status_code=303)


@router.get("/settings/apps")
async def apps_page(request: Request, revoked: str | None = None) -> Response:
    layout, apps = await load(request, _apps)
    if apps is None:
        return _login_first()
    return render(request, "apps.html", layout, apps=apps, revoked=bool(revoked))


def _revoke(db: Session, layout: Layout, client_id: str) -> None:
    if layout.visitor is None:
        raise NotFound()
    revoke_app(db, layout.visitor.id, client_id)


@router.post("/settings/apps/{client_id}/revoke")
async def revoke_submit(request: Request, client_id: str) -> Response:
    fields = dict(reversed(await form_pairs(request)))
    if not check_csrf(request, fields.get("csrf_token")):
        return await error_page(request, "The form expired. Please reload the page and try again.", 403)
    try:
        await load(request, _revoke, client_id, write=True)
    except PiazzaError as exc:
        return await error_page(request, "There is no such authorized app.", exc.status)
    return RedirectResponse("/settings/apps?revoked=1", status_code=303)
