"""Moderation messages (gancio-api.md §2.4): reports about an event, and notes between moderators and
the event's author. Messages are plain text; pages escape them where they show them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from piazza.accounts.models import Role, User
from piazza.accounts.people import deactivate_user
from piazza.errors import Forbidden, Invalid, NotFound
from piazza.events.models import Event
from piazza.events.wire import iso
from piazza.instance.settings import get_setting
from piazza.moderation.models import MessageAuthor, ModerationMessage
from piazza.oauth.bearer import Caller
from piazza.oauth.scopes import Permission

MAX_MESSAGE_LENGTH = 5000
RECENT_REPORTS = 200


def message_to_wire(item: ModerationMessage) -> dict[str, Any]:
    return {
        "id": item.id,
        "eventId": item.event_id,
        "message": item.message,
        "is_author_visible": item.is_author_visible,
        "author": item.author,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    }


def _is_moderator(caller: Caller) -> bool:
    return caller.may(Permission.MODERATE)


def _is_owner(caller: Caller, owner_id: int | None) -> bool:
    return owner_id is not None and caller.user_id == owner_id and caller.may(Permission.EVENT_WRITE)


def _event_owner(db: Session, event_id: int) -> int | None:
    """The event's author id (None for an anonymous event). Raises NotFound."""
    row = db.execute(select(Event.id, Event.user_id).where(Event.id == event_id)).first()
    if row is None:
        raise NotFound()
    owner_id: int | None = row.user_id
    return owner_id


def _parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "on")
    return value is True or value == 1


def add_message(db: Session, caller: Caller, event_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """A message about an event from a moderator, its author or (with `enable_report`) anyone.

    Raises Forbidden (moderation off, or reports off for this caller), NotFound, Invalid (no message;
    Gancio answers 403 there, but nothing is forbidden about a missing field).
    """
    if get_setting(db, "enable_moderation") is not True:
        raise Forbidden()
    owner_id = _event_owner(db, event_id)
    if _is_moderator(caller):
        author = MessageAuthor.ADMIN
    elif _is_owner(caller, owner_id):
        author = MessageAuthor.AUTHOR
    else:
        if get_setting(db, "enable_report") is not True:
            raise Forbidden()
        author = MessageAuthor.ANON
    text = body.get("message")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("message required", field="message")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise Invalid(f"message is at most {MAX_MESSAGE_LENGTH} characters", field="message")
    item = ModerationMessage(
        event_id=event_id,
        message=text.strip(),
        author=author.value,
        # What the author writes is for the moderators and the author alike (§2.4).
        is_author_visible=author is MessageAuthor.AUTHOR or _parse_bool(body.get("is_author_visible")),
    )
    db.add(item)
    db.flush()
    return message_to_wire(item)


def list_messages(db: Session, caller: Caller, event_id: int) -> list[dict[str, Any]]:
    """Moderators: every message, newest first; the author: those meant for the author.

    Raises Forbidden (anonymous, moderation off, or anyone else: Gancio answers 400 there), NotFound.
    """
    if caller.is_anonymous or get_setting(db, "enable_moderation") is not True:
        raise Forbidden()
    owner_id = _event_owner(db, event_id)
    stmt = (
        select(ModerationMessage)
        .where(ModerationMessage.event_id == event_id)
        .order_by(ModerationMessage.created_at.desc(), ModerationMessage.id.desc())
    )
    if not _is_moderator(caller):
        if not _is_owner(caller, owner_id):
            raise Forbidden()
        stmt = stmt.where(ModerationMessage.is_author_visible.is_(True))
    return [message_to_wire(item) for item in db.scalars(stmt)]


def recent_reports(db: Session, *, limit: int = RECENT_REPORTS) -> list[dict[str, Any]]:
    """The latest messages with their event's id, title and slug, newest first: the moderation page.

    Callers (the web page) check that the viewer is a moderator.
    """
    rows = db.execute(
        select(ModerationMessage, Event.title, Event.slug, Event.is_visible)
        .join(Event, Event.id == ModerationMessage.event_id)
        .order_by(ModerationMessage.created_at.desc(), ModerationMessage.id.desc())
        .limit(limit)
    ).all()
    reports = []
    for item, title, slug, is_visible in rows:
        report = message_to_wire(item)
        report["event"] = {"id": item.event_id, "title": title, "slug": slug, "is_visible": is_visible}
        reports.append(report)
    return reports


def disable_author(db: Session, caller: Caller, event_id: int) -> None:
    """`PUT /api/event/disable_author/:id` (§2.3, editors): deactivate the event's author.

    Raises Forbidden (moderation off; or an editor aiming at an admin, which Gancio allows but which would
    let an editor lock out the people above them), NotFound (no event, or an anonymous one), LastAdmin.
    """
    if get_setting(db, "enable_moderation") is not True:
        raise Forbidden()
    owner_id = _event_owner(db, event_id)
    author = db.get(User, owner_id) if owner_id is not None else None
    if author is None:
        raise NotFound()
    if author.role == Role.ADMIN and not caller.is_admin:
        raise Forbidden()
    deactivate_user(db, author)
