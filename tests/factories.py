"""Small functions that insert real rows, one per domain object. Each takes a `Database`."""

from __future__ import annotations

import functools
import secrets
from datetime import datetime

from piazza.accounts.models import Role, User
from piazza.accounts.passwords import hash_password
from piazza.db import Database
from piazza.oauth.models import SELF_CLIENT_ID, Client, Token
from piazza.oauth.tokens import digest, generate_token

DEFAULT_PASSWORD = "correct horse battery"


@functools.cache
def _hash(password: str) -> str:
    # argon2 is deliberately slow; hash each test password once per run.
    return hash_password(password)


def make_user(
    db: Database,
    email: str | None = None,
    *,
    role: Role | str = Role.USER,
    password: str | None = DEFAULT_PASSWORD,
    is_active: bool = True,
) -> User:
    with db.session() as s:
        user = User(
            email=(email or f"user-{secrets.token_hex(4)}@example.org").lower(),
            password=_hash(password) if password else None,
            role=str(role),
            is_active=is_active,
            settings=[],
        )
        s.add(user)
    return user


def make_client(
    db: Database,
    *,
    name: str = "Test App",
    redirect_uris: list[str] | None = None,
    scopes: str = "event:write",
    website: str | None = "https://app.example",
    public: bool = False,
) -> tuple[Client, str | None]:
    """A registered third-party client and its plain secret (None for a public client)."""
    secret = None if public else generate_token()
    with db.session() as s:
        client = Client(
            id=generate_token(),
            name=name,
            secret_digest=digest(secret) if secret else None,
            redirect_uris=redirect_uris or ["https://app.example/callback"],
            scopes=scopes,
            website=website,
        )
        s.add(client)
    return client, secret


def make_token(
    db: Database,
    user: User,
    *,
    client_id: str = SELF_CLIENT_ID,
    scope: str = "",
    expires_at: datetime | None = None,
    with_refresh: bool = True,
) -> str:
    """Insert a token row for `user` and return the plain access token."""
    access = generate_token()
    with db.session() as s:
        s.add(
            Token(
                access_digest=digest(access),
                refresh_digest=digest(generate_token()) if with_refresh else None,
                client_id=client_id,
                user_id=user.id,
                scope=scope,
                family_id=generate_token(),
                access_expires_at=expires_at,
            )
        )
    return access


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_event(
    db: Database,
    user: User | None = None,
    *,
    title: str = "An event",
    start: int | None = None,
    end: int | None = None,
    place_name: str = "The Square",
    place_address: str = "1 Main Street",
    tags: list[str] | None = None,
    visible: bool | None = None,
    **fields: object,
) -> dict:
    """Create an event through the events service (as `user`, or anonymously) and return its JSON.

    `visible` overrides the visibility the service chose (anonymous events start hidden).
    """
    import time
    from pathlib import Path

    from piazza.events import service
    from piazza.events.models import Event

    data: dict[str, object] = {
        "title": title,
        "start_datetime": start if start is not None else int(time.time()) + 86400,
        "place_name": place_name,
        "place_address": place_address,
        "tags": tags or [],
        **fields,
    }
    if end is not None:
        data["end_datetime"] = end
    actor = service.Actor(user_id=user.id if user else None, is_moderator=bool(user and user.role != "user"))
    context = service.EventWriteContext(media_dir=Path("/nonexistent"))
    with db.session() as s:
        event = service.create_event(s, actor, data, None, context).event
        if visible is not None:
            s.get(Event, event["id"]).is_visible = visible
            event["is_visible"] = visible
    return event
