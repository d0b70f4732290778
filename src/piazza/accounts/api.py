from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, Response

from piazza.accounts import people
from piazza.accounts.forms import optional_bool, optional_str, read_body, required_str
from piazza.accounts.models import User
from piazza.accounts.openapi import (
    CHECK_RECOVER_CODE_BODY,
    CREATE_USER_BODY,
    RECOVER_BODY,
    RECOVER_PASSWORD_BODY,
    REGISTER_BODY,
    UPDATE_USER_BODY,
    USER,
)
from piazza.accounts.service import get_user, list_users_for_admin
from piazza.app_state import app_state
from piazza.db.base import MAX_ROW_ID
from piazza.errors import Conflict, Invalid, NotFound
from piazza.events.wire import iso
from piazza.mail import wake_mail_worker
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission
from piazza.openapi import STRING, TEXT, array_of, json_content, object_of, operation
from piazza.responses import JSONResponse

router = APIRouter()

MAX_PASSWORD_LENGTH = 1024


def user_to_wire(user: User) -> dict[str, Any]:
    """Gancio's user JSON, without the password hash or the recovery code digest.

    Gancio sends `recover_code` too (§2.2, §6); Piazza stores only a digest, which is of no use to a
    client and still a secret, so the key is left out.
    """
    return {
        "is_admin": user.is_admin,
        "is_editor": user.is_editor,
        "id": user.id,
        "settings": user.settings if user.settings is not None else [],
        "email": user.email,
        "description": user.description,
        "role": user.role,
        "is_active": user.is_active,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
    }


def _ok() -> PlainTextResponse:
    return PlainTextResponse("OK")


@router.get("/api/ping", tags=["instance"], response_class=PlainTextResponse)
async def ping() -> PlainTextResponse:
    return PlainTextResponse("OK")


@router.get("/api/user", tags=["accounts"], openapi_extra=operation(ok=json_content(USER)))
async def current_user(
    request: Request, caller: Caller = Depends(require(Permission.ACCOUNT))
) -> JSONResponse:
    # Apps ask this on every start; while the database is unchanged the answer is too (db/cache.py).
    cache, db = app_state(request).read_cache, app_state(request).db
    wire = await cache.get_or_read(("user", caller.user_id), db.read_small, _user_wire, caller.user_id)
    return JSONResponse(wire)


def _user_wire(db: Session, user_id: int) -> dict[str, Any]:
    return user_to_wire(get_user(db, user_id))


@router.post(
    "/api/user/register",
    tags=["accounts"],
    openapi_extra=operation(
        body=REGISTER_BODY,
        ok={**json_content(USER), **TEXT},
        responses={"404": ("Invalid email (a JSON string, as Gancio)", json_content(STRING))},
    ),
)
async def register(request: Request) -> Response:
    """Gancio §6: the first user becomes an active admin and gets their JSON back; later registrants get
    `OK` and wait for an admin. `role`, `is_active` and `recover_code` in the body are ignored."""
    body = await read_body(request)
    email = required_str(body, "email")
    password = required_str(body, "password", max_length=MAX_PASSWORD_LENGTH)
    description = optional_str(body, "description", max_length=people.MAX_DESCRIPTION_LENGTH)
    state = app_state(request)
    try:
        user, is_first = await state.db.write(
            people.register_user, state.config, email, password, description
        )
    except people.InvalidEmail:
        return JSONResponse("Invalid email", status_code=404)  # Gancio's bare JSON string
    except Conflict as exc:
        raise Invalid(exc.message, field="email") from None  # Gancio: 400 with error.email_taken
    if is_first:
        return JSONResponse(user_to_wire(user))
    wake_mail_worker(state)
    return _ok()


@router.post(
    "/api/user", tags=["accounts"], openapi_extra=operation(body=CREATE_USER_BODY, ok=json_content(USER))
)
async def create_user_as_admin(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> JSONResponse:
    body = await read_body(request)
    email = required_str(body, "email")
    role = optional_str(body, "role", max_length=16)
    password = optional_str(body, "password", max_length=MAX_PASSWORD_LENGTH)
    description = optional_str(body, "description", max_length=people.MAX_DESCRIPTION_LENGTH)
    state = app_state(request)
    user = await state.db.write(
        people.invite_user, state.config, email, role=role, password=password, description=description
    )
    wake_mail_worker(state)
    return JSONResponse(user_to_wire(user))


@router.put(
    "/api/user",
    tags=["accounts"],
    openapi_extra=operation(
        body=UPDATE_USER_BODY, ok={"text/plain": {"schema": {"type": "string", "maxLength": 0}}}
    ),
)
async def update_user_as_admin(
    request: Request, caller: Caller = Depends(require(Permission.ADMIN))
) -> Response:
    body = await read_body(request)
    user_id = body.get("id")
    if isinstance(user_id, str) and user_id.isdigit():
        user_id = int(user_id)
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise Invalid("id required", field="id")
    if not 0 < user_id <= MAX_ROW_ID:
        return JSONResponse({"success": False, "message": "User not found!"}, status_code=404)
    changes = {key: body[key] for key in people.EDITABLE_FIELDS if key in body}
    if "is_active" in changes:
        changes["is_active"] = optional_bool(changes, "is_active")
    state = app_state(request)
    try:
        await state.db.write(people.update_user, state.config, user_id, changes)
    except NotFound:
        return JSONResponse({"success": False, "message": "User not found!"}, status_code=404)
    wake_mail_worker(state)
    return PlainTextResponse("")  # Gancio answers an empty 200; the API document says text/plain


@router.delete("/api/user/{user_id}", tags=["accounts"], response_class=PlainTextResponse)
async def delete_user_as_admin(
    request: Request, user_id: int, caller: Caller = Depends(require(Permission.ADMIN))
) -> PlainTextResponse:
    if not 0 < user_id <= MAX_ROW_ID:
        raise NotFound()  # no row can have this id, and binding it overflowed the column (a 500)
    await app_state(request).db.write(people.delete_user, user_id)
    return _ok()


@router.delete("/api/user", tags=["accounts"], response_class=PlainTextResponse)
async def delete_own_account(
    request: Request, caller: Caller = Depends(require(Permission.ACCOUNT))
) -> PlainTextResponse:
    await app_state(request).db.write(people.delete_user, caller.account_id)
    return _ok()


@router.get("/api/users", tags=["accounts"], openapi_extra=operation(ok=json_content(array_of(USER))))
async def list_users(request: Request, caller: Caller = Depends(require(Permission.ADMIN))) -> JSONResponse:
    users = await app_state(request).db.read(list_users_for_admin)
    return JSONResponse([user_to_wire(user) for user in users])


@router.post(
    "/api/user/recover",
    tags=["accounts"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=RECOVER_BODY),
)
async def recover(request: Request) -> PlainTextResponse:
    """Always `OK`, whether or not the address belongs to someone; the mail goes out in the background."""
    body = await read_body(request)
    email = required_str(body, "email")
    state = app_state(request)
    await state.db.write(people.start_recovery, state.config, email)
    wake_mail_worker(state)
    return _ok()


@router.post(
    "/api/user/check_recover_code",
    tags=["accounts"],
    openapi_extra=operation(
        body=CHECK_RECOVER_CODE_BODY, ok=json_content(object_of({"email": STRING}, required=["email"]))
    ),
)
async def check_recover_code(request: Request) -> JSONResponse:
    body = await read_body(request)
    email = await app_state(request).db.read(people.check_recover_code, body.get("recover_code"))
    return JSONResponse({"email": email})


@router.post(
    "/api/user/recover_password",
    tags=["accounts"],
    response_class=PlainTextResponse,
    openapi_extra=operation(body=RECOVER_PASSWORD_BODY),
)
async def recover_password(request: Request) -> PlainTextResponse:
    body = await read_body(request)
    await app_state(request).db.write(people.recover_password, body.get("recover_code"), body.get("password"))
    return _ok()
