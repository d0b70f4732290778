from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, PlainTextResponse

from piazza.accounts.models import User
from piazza.accounts.service import get_user
from piazza.oauth.bearer import Caller, require
from piazza.oauth.scopes import Permission

router = APIRouter()


def user_to_wire(user: User) -> dict[str, Any]:
    """Gancio's user JSON, without the password hash or the recovery code digest."""
    return {
        "is_admin": user.is_admin,
        "is_editor": user.is_editor,
        "id": user.id,
        "settings": user.settings if user.settings is not None else [],
        "email": user.email,
        "description": user.description,
        "role": user.role,
        "is_active": user.is_active,
        "createdAt": user.created_at.isoformat().replace("+00:00", "Z"),
        "updatedAt": user.updated_at.isoformat().replace("+00:00", "Z"),
    }


@router.get("/api/ping", tags=["instance"])
async def ping() -> PlainTextResponse:
    return PlainTextResponse("OK")


@router.get("/api/user", tags=["accounts"])
async def current_user(
    request: Request, caller: Caller = Depends(require(Permission.ACCOUNT))
) -> JSONResponse:
    user = await request.app.state.db.read(get_user, caller.user_id)
    return JSONResponse(user_to_wire(user))
