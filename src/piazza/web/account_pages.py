"""Register, recover a password, accept an invitation: the pages behind the accounts services that
`/api/user/register`, `/api/user/recover` and `/api/user/recover_password` call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from piazza.accounts import people
from piazza.app_state import app_state
from piazza.errors import Conflict, PiazzaError
from piazza.mail.worker import wake_mail_worker
from piazza.oauth.api import form_pairs
from piazza.web.render import Layout, load, render, render_page
from piazza.web.session import check_csrf

router = APIRouter(include_in_schema=False)

EXPIRED = "The form expired. Please reload the page and try again."
MAX_FIELD = 1024


async def read_form(request: Request) -> tuple[dict[str, str], bool]:
    """The form's fields (the first value of each) and whether its CSRF token is right."""
    fields = dict(reversed(await form_pairs(request)))
    return fields, check_csrf(request, fields.get("csrf_token"))


def _register(
    db: Session, layout: Layout, config: Any, email: str, password: str, description: str | None
) -> bool:
    _user, is_first = people.register_user(db, config, email, password, description)
    return is_first


@router.get("/register")
async def register_page(request: Request) -> Response:
    return await render_page(request, "register.html", email="", description="", error=None)


@router.post("/register")
async def register_submit(request: Request) -> Response:
    form, csrf_ok = await read_form(request)
    email, password = form.get("email", "").strip()[:MAX_FIELD], form.get("password", "")[:MAX_FIELD]
    description = form.get("description", "").strip()[: people.MAX_DESCRIPTION_LENGTH + 1] or None
    again = {"email": email, "description": description or ""}
    if not csrf_ok:
        return await render_page(request, "register.html", 403, error=EXPIRED, **again)
    if not email or not password:
        return await render_page(request, "register.html", 400, error="Email and password required.", **again)
    state = app_state(request)
    try:
        layout, is_first = await load(
            request, _register, state.config, email, password, description, write=True
        )
    except people.InvalidEmail:
        return await render_page(
            request, "register.html", 400, error="This email address is not valid.", **again
        )
    except Conflict:
        return await render_page(
            request, "register.html", 400, error="This email is already registered.", **again
        )
    except PiazzaError as exc:
        if exc.status == 404:
            message = "Registration is closed on this instance."
        else:
            message = exc.message or "Please check the form."
        return await render_page(request, "register.html", exc.status, error=message, **again)
    wake_mail_worker(state)
    return render(request, "registered.html", layout, is_first=is_first, email=email)


@router.get("/recover")
async def recover_page(request: Request) -> Response:
    return await render_page(request, "recover.html", sent=False, error=None)


@router.post("/recover")
async def recover_submit(request: Request) -> Response:
    form, csrf_ok = await read_form(request)
    if not csrf_ok:
        return await render_page(request, "recover.html", 403, sent=False, error=EXPIRED)
    email = form.get("email", "").strip()[:MAX_FIELD]
    if not email:
        return await render_page(request, "recover.html", 400, sent=False, error="Email required.")
    state = app_state(request)
    await state.db.write(people.start_recovery, state.config, email)
    wake_mail_worker(state)
    # The same answer whether or not the address belongs to someone: no way to probe for accounts.
    return await render_page(request, "recover.html", sent=True, error=None)


def _code_owner(db: Session, layout: Layout, code: str) -> str:
    return people.check_recover_code(db, code)


async def _password_page(request: Request, code: str, template: str) -> Response:
    try:
        layout, email = await load(request, _code_owner, code)
    except PiazzaError:
        return await render_page(
            request, template, 400, code=None, email=None, error="This link is not valid any more."
        )
    return render(request, template, layout, code=code, email=email, error=None)


def _set_password(db: Session, layout: Layout, code: str, password: str) -> None:
    people.recover_password(db, code, password)


async def _password_submit(request: Request, code: str, template: str) -> Response:
    form, csrf_ok = await read_form(request)
    if not csrf_ok:
        return await render_page(request, template, 403, code=code, email=None, error=EXPIRED)
    password, repeated = form.get("password", ""), form.get("password_again", "")
    if not password or password != repeated:
        error = "Type the same new password twice."
        return await render_page(request, template, 400, code=code, email=None, error=error)
    try:
        await load(request, _set_password, code, password[:MAX_FIELD], write=True)
    except PiazzaError as exc:
        error = (
            exc.message
            if exc.message and exc.message != "Bad Request"
            else "This link is not valid any more."
        )
        return await render_page(request, template, exc.status, code=code, email=None, error=error)
    return RedirectResponse("/login?changed=1", status_code=303)


@router.get("/recover/{code}")
async def recover_code_page(request: Request, code: str) -> Response:
    return await _password_page(request, code, "new_password.html")


@router.post("/recover/{code}")
async def recover_code_submit(request: Request, code: str) -> Response:
    return await _password_submit(request, code, "new_password.html")


@router.get("/user_confirm/{code}")
async def invitation_page(request: Request, code: str) -> Response:
    return await _password_page(request, code, "new_password.html")


@router.post("/user_confirm/{code}")
async def invitation_submit(request: Request, code: str) -> Response:
    return await _password_submit(request, code, "new_password.html")
