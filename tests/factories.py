"""Small functions that insert real rows, one per domain object. Each takes a `Database`."""

from __future__ import annotations

import base64
import functools
import json
import secrets
from datetime import datetime
from typing import Any

from itsdangerous import TimestampSigner

from piazza.accounts.models import Role, User
from piazza.accounts.passwords import hash_password
from piazza.db import Database
from piazza.oauth.models import SELF_CLIENT_ID, Client, Token
from piazza.oauth.service import login_fingerprint
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


def web_session(client: Any, user: User, secret_key: str = "test-secret-key-" + "x" * 32) -> None:
    """Give a TestClient the signed session cookie a form login would set, without argon2's cost.

    The login form itself is tested in tests/oauth/test_web_login.py; the cookie is what Starlette's
    SessionMiddleware signs and verifies with the app's secret key (conftest's TEST_SECRET_KEY).
    """
    session = {"user_id": user.id, "login": login_fingerprint(user), "csrf": secrets.token_hex(20)}
    data = base64.b64encode(json.dumps(session).encode())
    client.cookies.set("piazza_session", TimestampSigner(secret_key).sign(data).decode())


def set_setting(db: Database, key: str, value: object, *, is_secret: bool = False) -> None:
    """Store an instance setting directly."""
    from piazza.instance.settings import set_setting as store

    with db.session() as s:
        store(s, key, value, is_secret=is_secret)


def outbox(db: Database) -> list[dict[str, object]]:
    """Every queued mail, oldest first, as plain dicts."""
    from sqlalchemy import select

    from piazza.mail.models import OutboxMail

    with db.session(write=False) as s:
        rows = s.scalars(select(OutboxMail).order_by(OutboxMail.id))
        return [
            {c.name: getattr(row, c.name) for c in OutboxMail.__table__.columns}  # type: ignore[attr-defined]
            for row in rows
        ]


def deliver_all(app, timeout: float = 10) -> None:
    """Send every queued mail now, waiting for any the app's own worker is sending at the same time."""
    import time

    from piazza.mail import deliver_pending

    deadline = time.monotonic() + timeout
    while True:
        deliver_pending(app.state.db, app.state.config)
        if all(mail["status"] != "pending" for mail in outbox(app.state.db)):
            return
        if time.monotonic() > deadline:
            raise AssertionError("mails still pending")
        time.sleep(0.02)


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


def make_place(db: Database, name: str = "The Square", address: str = "1 Main Street") -> int:
    """Insert a place row and return its id."""
    from piazza.events.models import Place

    with db.session() as s:
        place = Place(name=name, address=address)
        s.add(place)
        s.flush()
        return place.id


def insert_event(
    db: Database,
    title: str = "An event",
    *,
    start: int,
    end: int | None = None,
    place_id: int | None = None,
    tags: tuple[str, ...] = (),
    **columns: object,
) -> int:
    """Insert an event row as it is (no service rules), with its tags; return its id.

    For reads that need rows the service would not make: occurrences, parents, federated events.
    """
    from sqlalchemy import select

    from piazza.events.models import Event, EventTag, Tag

    values: dict[str, object] = {"is_visible": True, "media": [], "online_locations": []} | columns
    with db.session() as s:
        event = Event(title=title, start_datetime=start, end_datetime=end, place_id=place_id, **values)
        s.add(event)
        s.flush()
        for tag in tags:
            if s.scalar(select(Tag.tag).where(Tag.tag == tag)) is None:
                s.add(Tag(tag=tag, folded=tag.casefold()))
                s.flush()
            s.add(EventTag(event_id=event.id, tag=tag))
        return event.id


def make_collection(
    db: Database, name: str, *filters: dict[str, object], pinned: bool = True, sort_index: int | None = None
) -> int:
    """A collection with filters given as `{"tags": [...], "places": [{"id": 1}], "negate": True}`."""
    from sqlalchemy import func, select

    from piazza.instance.models import Collection, Filter

    with db.session() as s:
        if sort_index is None:
            sort_index = (s.scalar(select(func.max(Collection.sort_index))) or 0) + 1
        collection = Collection(name=name, is_actor=True, is_top=pinned, sort_index=sort_index)
        s.add(collection)
        s.flush()
        for item in filters:
            s.add(
                Filter(
                    collection_id=collection.id,
                    tags=item.get("tags", []),
                    places=item.get("places", []),
                    actors=item.get("actors", []),
                    negate=item.get("negate", False),
                )
            )
        return collection.id


def sqlite_plan(db: Database, stmt: Any, params: dict[str, Any]) -> str:
    """SQLite's EXPLAIN QUERY PLAN for a statement with these parameters, one step a line."""
    with db.read_engine.connect() as conn:
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        values = {**compiled.params, **params}
        args = tuple(values[name] for name in compiled.positiontup)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), args).all()
    return "\n".join(row[3] for row in rows)
