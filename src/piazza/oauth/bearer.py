"""Bearer tokens on protected routes (RFC 6750), and the FastAPI dependencies that check them.

A request without credentials is anonymous: Gancio's guarded routes then answer 403, as Gancio does.
An Authorization header of another scheme (Basic, a bare token...) is refused with 401 and
`WWW-Authenticate: Bearer` (RFC 6750 §3.1: no error code for an unsupported method), rather than
treated as anonymous: a caller who sent credentials meant to be someone. A token that is presented
but unknown, revoked or expired is refused with 401 and `WWW-Authenticate: Bearer error="invalid_token"`
instead of silently becoming anonymous (gancio-api.md §3.8 W13). Tokens are read only from the
Authorization header, never from the query string or a cookie (W12): those leak into logs and Referer
headers, or turn every route into a CSRF target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Depends, Request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from piazza.accounts.models import User
from piazza.app_state import app_state
from piazza.db.base import utcnow
from piazza.errors import Forbidden, PiazzaError
from piazza.oauth.models import SELF_CLIENT_ID, Token
from piazza.oauth.scopes import Permission, parse_scopes, role_grants, scopes_grant
from piazza.oauth.tokens import digest


class InvalidToken(PiazzaError):
    status = 401
    message = "invalid_token"

    def __init__(self, description: str = "The access token is invalid, expired or revoked") -> None:
        self.description = description
        super().__init__()


class InsufficientScope(PiazzaError):
    status = 403
    message = "insufficient_scope"

    def __init__(self, permission: Permission) -> None:
        self.description = f"The token's scope does not allow '{permission.value}'"
        super().__init__()


class UnsupportedScheme(PiazzaError):
    status = 401
    message = "Unauthorized: send the access token as Authorization: Bearer <token>"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a request: a user acting through a token of some client, or nobody."""

    user_id: int | None = None
    email: str | None = None
    role: str | None = None
    client_id: str | None = None
    scopes: frozenset[str] = frozenset()
    token_id: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def account_id(self) -> int:
        """The user's id, on routes that `require` a permission (which let no anonymous caller in)."""
        if self.user_id is None:
            raise Forbidden()
        return self.user_id

    @property
    def is_first_party(self) -> bool:
        return self.client_id == SELF_CLIENT_ID

    @property
    def is_admin(self) -> bool:
        """Admin powers in this request: the role, through the person's own login or a `self` token."""
        return self.may(Permission.ADMIN)

    @property
    def is_moderator(self) -> bool:
        """Moderation in this request (others' events, hidden ones, confirming): an editor's or admin's
        third-party app token acts "in your name" on the person's own events only."""
        return self.may(Permission.MODERATE)

    def scope_allows(self, permission: Permission) -> bool:
        return self.is_first_party or scopes_grant(self.scopes, permission)

    def may(self, permission: Permission) -> bool:
        return not self.is_anonymous and self.scope_allows(permission) and role_grants(self.role, permission)


ANONYMOUS = Caller()


_CALLER_BY_TOKEN = (
    select(
        Token.id,
        Token.client_id,
        Token.scope,
        Token.access_expires_at,
        User.id.label("user_id"),
        User.email,
        User.role,
    )
    .join(User, User.id == Token.user_id)
    .where(Token.access_digest == bindparam("digest"), Token.revoked_at.is_(None), User.is_active.is_(True))
)


def find_caller_by_token(
    db: Session, token_digest: str, now: datetime | None = None
) -> tuple[Caller, datetime | None] | None:
    """The caller behind a live access token of an active user, with the token's expiry; or None.
    One indexed lookup."""
    # On the connection, with the statement built once: a tenth of the ORM session's cost per request.
    row = db.connection().execute(_CALLER_BY_TOKEN, {"digest": token_digest}).one_or_none()
    if row is None:
        return None
    if row.access_expires_at is not None and row.access_expires_at <= (now or utcnow()):
        return None
    caller = Caller(
        user_id=row.user_id,
        email=row.email,
        role=row.role,
        client_id=row.client_id,
        scopes=parse_scopes(row.scope),
        token_id=row.id,
    )
    return caller, row.access_expires_at


def bearer_token_from(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header; None without the header. Another scheme is
    UnsupportedScheme (401). limits/ratelimit.py `bearer_token` reads the header the same way."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        raise UnsupportedScheme()
    value = value.strip()
    if not value:
        raise InvalidToken("The Authorization header has no token")
    return value


async def get_caller(request: Request) -> Caller:
    """The request's caller; anonymous without a token, InvalidToken (401) for a bad one."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = bearer_token_from(request)
    caller = ANONYMOUS
    if token is not None:
        found = await _caller_by_token(request, digest(token))
        if found is None:
            raise InvalidToken()
        caller = found
    request.state.caller = caller
    return caller


async def _caller_by_token(request: Request, token_digest: str) -> Caller | None:
    """find_caller_by_token, through the read cache: while the database is unchanged (a revocation
    anywhere changes it) and for a few seconds at most, the same token needs no lookup."""
    cache = app_state(request).read_cache
    key = ("caller", token_digest)
    cached: tuple[Caller, datetime | None] | None = cache.get(key)
    if cached is not None:
        caller, expires_at = cached
        if expires_at is None or utcnow() < expires_at:
            return caller
    version = cache.version()
    found = await app_state(request).db.read_small(find_caller_by_token, token_digest)
    if found is None:
        return None
    cache.put(key, found, version)
    return found[0]


def require(permission: Permission) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets through only callers who may do `permission`.

    No user: 403 (Gancio's guards). A third-party token without a scope for it: 403 insufficient_scope,
    checked before the role, so an admin's app token is refused on admin routes. A role without it: 403.
    """

    async def dependency(caller: Caller = Depends(get_caller)) -> Caller:
        if caller.is_anonymous:
            raise Forbidden()
        if not caller.scope_allows(permission):
            raise InsufficientScope(permission)
        if not role_grants(caller.role, permission):
            raise Forbidden()
        return caller

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency
