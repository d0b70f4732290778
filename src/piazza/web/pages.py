"""Page routes: login, logout and the OAuth consent page. Rules live in accounts/ and oauth/."""

from __future__ import annotations

import os
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from piazza.accounts.service import check_password, confirm_login
from piazza.app_state import app_state
from piazza.oauth.api import form_pairs, oauth_request
from piazza.oauth.authorize import AUTHORIZATION_PARAMS, Outcome, decide_authorization, start_authorization
from piazza.oauth.service import end_login_sessions, login_fingerprint
from piazza.web import account_pages, apps_page, event_forms, public
from piazza.web.render import HERE, error_page, render_page
from piazza.web.security import secure_headers
from piazza.web.session import (
    check_csrf,
    log_in,
    safe_next,
    session_fingerprint,
    session_user_id,
)

router = APIRouter(include_in_schema=False)


# The few static files the pages use, by name: nothing else under static/ is reachable there (the
# bundled default images are served as /logo.png and the like, by instance/api.py).
STATIC_FILES = frozenset({"piazza.css", "admin.css"})
STATIC_CACHE_CONTROL = "public, max-age=3600"


class Stylesheets(StaticFiles):
    """`/static/<name>`: web/static/ through Starlette's StaticFiles (ETag, Last-Modified, 304, HEAD,
    no read of the whole file per request), for the names in STATIC_FILES only."""

    def __init__(self) -> None:
        super().__init__(directory=HERE / "static")

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in STATIC_FILES and scope["method"] in ("GET", "HEAD"):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = STATIC_CACHE_CONTROL
        return response


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    return await render_page(request, "login.html", next=safe_next(next), error=None, email="")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = dict(reversed(await form_pairs(request)))
    target = safe_next(form.get("next"))
    if not check_csrf(request, form.get("csrf_token")):
        return await error_page(request, "The form expired. Please go back and try again.", 403)
    email, password = form.get("email", ""), form.get("password", "")
    db = app_state(request).db
    checked = await check_password(db, email, password) if email and password else None
    user = await db.write(confirm_login, checked) if checked else None
    if user is None:
        error = "Wrong email or password."
        return await render_page(request, "login.html", 403, next=target, error=error, email=email)
    log_in(request, user.id, login_fingerprint(user))
    return secure_headers(RedirectResponse(target, status_code=303))


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = dict(reversed(await form_pairs(request)))
    if not check_csrf(request, form.get("csrf_token")):
        return await error_page(request, "The form expired. Please go back and try again.", 403)
    user_id, fingerprint = session_user_id(request), session_fingerprint(request)
    if user_id is not None:
        # Ends this session everywhere, not only in this browser: a copy of the cookie stops working.
        await request.app.state.db.write(end_login_sessions, user_id, fingerprint)
    request.session.clear()
    return secure_headers(RedirectResponse("/", status_code=303))


def _login_redirect(request: Request, params: dict[str, str]) -> Response:
    back = "/oauth/authorize" + ("?" + urlencode(params) if params else "")
    return secure_headers(RedirectResponse("/login?" + urlencode({"next": back}), status_code=303))


async def _show(request: Request, outcome: Outcome) -> Response:
    if outcome.response is not None:
        return secure_headers(outcome.response)
    if outcome.error is not None:
        # An unknown client or an unregistered redirect URI: an error page, never a redirect (§4.1.2.1).
        # Other errors offer the client's error redirect as a link (RFC 9700 §4.11.2).
        return await error_page(request, outcome.error, return_to=outcome.return_to)
    return await render_page(request, "consent.html", outcome=outcome)


@router.get("/authorize")
@router.get("/oauth/authorize")
async def authorize(request: Request) -> Response:
    oreq = oauth_request(request, [], with_query=True)
    user_id = session_user_id(request)
    config = app_state(request).config
    outcome = await app_state(request).db.write(
        start_authorization, config, oreq, user_id, session_fingerprint(request)
    )
    if outcome.response is None and outcome.error is None and not outcome.logged_in:
        # Valid request, nobody logged in: log in first, then come back to this same request.
        return _login_redirect(request, outcome.params)
    return await _show(request, outcome)


@router.post("/oauth/authorize")
async def authorize_decision(request: Request) -> Response:
    form = await form_pairs(request)
    fields = dict(reversed(form))
    params = [(key, value) for key, value in form if key in AUTHORIZATION_PARAMS]
    if session_user_id(request) is None:
        return _login_redirect(request, dict(reversed(params)))
    if not check_csrf(request, fields.get("csrf_token")):
        return await error_page(request, "The form expired. Please go back to the app and try again.", 403)
    oreq = oauth_request(request, params, with_query=False)
    approved = fields.get("decision") == "approve"
    config = app_state(request).config
    outcome = await app_state(request).db.write(
        decide_authorization,
        config,
        oreq,
        session_user_id(request),
        session_fingerprint(request) or "",
        approved,
    )
    if outcome.response is None and outcome.error is None:
        return _login_redirect(request, dict(reversed(params)))
    return await _show(request, outcome)


# The other page families, each in its own module, served through this one router.
router.include_router(public.router)
router.include_router(account_pages.router)
router.include_router(event_forms.router)
router.include_router(apps_page.router)
