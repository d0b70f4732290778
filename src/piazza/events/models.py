"""Gancio's `events`, `places`, `tags` and `event_tags` tables (gancio-api.md §4.2-4.4).

Column names are snake case here; the wire keeps Gancio's names (`placeId`, `parentId`, ...), built in
`events/wire.py`. Start and end are integer unix seconds, as Gancio stores them: BigInteger, because
Gancio accepts values up to 31,536,000,000, beyond 32 bits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from piazza.db.base import Base, UTCDateTime, utcnow

# `recurrent IS NULL` must be an SQL NULL (not the JSON text `null`) so that listings can test it.
NullableJSON = JSON(none_as_null=True)


class Place(Base):
    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not unique (Gancio dropped that in 2025), but reused by case-insensitive name (§5.4).
    name: Mapped[str] = mapped_column(String(255), index=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    ap_id: Mapped[str | None] = mapped_column(String(2048))
    # Made by an anonymous submission not confirmed yet: no other event reuses it and no place route or
    # feed shows it; confirming the event publishes it, rejecting (deleting) the event deletes it.
    pending: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Tag(Base):
    """A tag, keyed by its stored spelling (Gancio's primary key is the text itself)."""

    __tablename__ = "tags"

    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    # str.casefold() of the tag: how tags are matched case-insensitively, for any script (§5.5).
    # Not unique, because Gancio databases may hold both `Tag2` and `tag2`.
    folded: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EventTag(Base):
    __tablename__ = "event_tags"
    # The primary key (event_id, tag) serves "tags of these events"; this index serves "events of a tag".
    __table_args__ = (Index("ix_event_tags_tag_event_id", "tag", "event_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(
        ForeignKey("tags.tag", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # The listing (§5.10): visible events from a start onwards, ordered by start; and the ongoing
        # ones, found by their end with the start in the index too, so that the scan over events
        # ending later never reads table rows (queries.py). All lead with is_visible, which every
        # public read filters on. The `parent_id` pair serves the default listing, which hides
        # recurrence occurrences (`parent_id IS NULL`): without it, every upcoming occurrence of every
        # series would be read and dropped on each page.
        Index("ix_events_visible_start", "is_visible", "start_datetime"),
        Index("ix_events_visible_end", "is_visible", "end_datetime", "start_datetime"),
        Index("ix_events_visible_parent_start", "is_visible", "parent_id", "start_datetime"),
        Index("ix_events_visible_parent_end", "is_visible", "parent_id", "end_datetime", "start_datetime"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    slug: Mapped[str | None] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML (§5.6)
    multidate: Mapped[bool | None] = mapped_column()
    start_datetime: Mapped[int] = mapped_column(BigInteger)
    end_datetime: Mapped[int | None] = mapped_column(BigInteger)
    image_path: Mapped[str | None] = mapped_column(String(255))  # legacy, superseded by media
    media: Mapped[Any] = mapped_column(JSON, default=list)
    is_visible: Mapped[bool] = mapped_column(default=False)
    # A moderator hid it (unconfirm): only a moderator may publish it again, not its owner.
    hidden_by_moderator: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Only on recurrent parents: {"frequency": "1w", "type": ...} (§5.9).
    recurrent: Mapped[Any] = mapped_column(NullableJSON, nullable=True)
    likes: Mapped[Any] = mapped_column(JSON, default=list)
    boost: Mapped[Any] = mapped_column(JSON, default=list)
    online_locations: Mapped[Any] = mapped_column(JSON, default=list)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    ap_id: Mapped[str | None] = mapped_column(String(2048), index=True)
    # Remote author of a federated event; Piazza does not federate, so this stays NULL (local events).
    ap_user_ap_id: Mapped[str | None] = mapped_column(String(2048))
    ap_object: Mapped[Any] = mapped_column(NullableJSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
