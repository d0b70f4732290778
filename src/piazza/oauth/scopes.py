"""What each scope and each role may do, in one table; anything not listed is denied.

Routes ask for a Permission. A token of the first-party client `self` acts as its user, so only the
user's role decides; a third-party token must also carry a scope that grants the permission. That is
why an admin's `event:write` token cannot reach an admin route (design.md, "Access tokens carry scopes").
"""

from __future__ import annotations

from enum import StrEnum

from piazza.accounts.models import Role


class Scope(StrEnum):
    EVENT_WRITE = "event:write"


class Permission(StrEnum):
    ACCOUNT = "account"  # read and manage one's own account
    EVENT_WRITE = "event:write"  # add, update and delete events (one's own, or any for moderators)
    MODERATE = "moderate"  # confirm, hide and edit anyone's events
    ADMIN = "admin"  # users, settings, places, tags, collections, pages, announcements


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.EVENT_WRITE: "Add, update and delete events in your name",
}

SCOPE_PERMISSIONS: dict[Scope, frozenset[Permission]] = {
    Scope.EVENT_WRITE: frozenset({Permission.EVENT_WRITE}),
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: frozenset({Permission.ACCOUNT, Permission.EVENT_WRITE}),
    Role.EDITOR: frozenset({Permission.ACCOUNT, Permission.EVENT_WRITE, Permission.MODERATE}),
    Role.ADMIN: frozenset(Permission),
}


def parse_scopes(value: str | None) -> frozenset[str]:
    return frozenset((value or "").split())


def check_scopes_known(scopes: frozenset[str]) -> bool:
    return bool(scopes) and all(scope in Scope.__members__.values() for scope in scopes)


def scopes_grant(scopes: frozenset[str], permission: Permission) -> bool:
    return any(permission in SCOPE_PERMISSIONS.get(Scope(s), ()) for s in scopes if s in set(Scope))


def role_grants(role: str | None, permission: Permission) -> bool:
    if role is None:
        return False
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
