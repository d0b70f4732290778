"""Announcements (gancio-api.md §2.8, §4.7): notices at the top of the home page while visible.

Gancio stores the HTML as sent and the web client renders it, so any admin account (or a stolen admin
token) could plant script in every visitor's page; here it is sanitized like event descriptions (§5.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from piazza.errors import NotFound
from piazza.events.wire import iso
from piazza.instance.models import Announcement
from piazza.instance.pages_service import parse_visible, sanitize_content, validate_title


def announcement_to_wire(item: Announcement) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "announcement": item.announcement,
        "visible": item.visible,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    }


def list_announcements(db: Session) -> list[dict[str, Any]]:
    """Every announcement, by id (admins)."""
    return [announcement_to_wire(a) for a in db.scalars(select(Announcement).order_by(Announcement.id))]


def visible_announcements(db: Session) -> list[dict[str, Any]]:
    """The announcements the home page shows, newest first."""
    stmt = select(Announcement).where(Announcement.visible.is_(True)).order_by(Announcement.id.desc())
    return [announcement_to_wire(a) for a in db.scalars(stmt)]


def create_announcement(db: Session, body: Mapping[str, Any]) -> dict[str, Any]:
    """A visible announcement. Raises Invalid (`title required`, ...)."""
    item = Announcement(
        title=validate_title(body.get("title")),
        announcement=sanitize_content(body.get("announcement"), "announcement"),
        visible=True,
    )
    db.add(item)
    db.flush()
    return announcement_to_wire(item)


def get_announcement(db: Session, announcement_id: int, *, is_admin: bool) -> dict[str, Any] | None:
    """One announcement. Admins get None for an unknown id (Gancio's `200 null`); everyone else gets
    NotFound for unknown and hidden ones alike, so hidden announcements stay private (Gancio shows
    them to anyone who guesses the id)."""
    item = db.get(Announcement, announcement_id)
    if is_admin:
        return None if item is None else announcement_to_wire(item)
    if item is None or not item.visible:
        raise NotFound()
    return announcement_to_wire(item)


def update_announcement(db: Session, announcement_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """Change the given fields of `title`, `announcement`, `visible`. Raises NotFound, Invalid."""
    item = db.get(Announcement, announcement_id)
    if item is None:
        raise NotFound()
    if "title" in body:
        item.title = validate_title(body["title"])
    if "announcement" in body:
        item.announcement = sanitize_content(body["announcement"], "announcement")
    if "visible" in body:
        item.visible = parse_visible(body["visible"])
    db.flush()
    return announcement_to_wire(item)


def delete_announcement(db: Session, announcement_id: int) -> None:
    """Raises NotFound."""
    item = db.get(Announcement, announcement_id)
    if item is None:
        raise NotFound()
    db.delete(item)
    db.flush()
