"""Moderation messages: reports about an event and notes between moderators and its author (§4.9)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from piazza.db.base import Base, UTCDateTime, utcnow


class MessageAuthor(StrEnum):
    """Who wrote a message, as Gancio labels it."""

    ADMIN = "ADMIN"  # a moderator (admin or editor)
    AUTHOR = "AUTHOR"  # the event's owner
    ANON = "ANON"  # anyone else, signed in or not


class ModerationMessage(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Gancio keeps messages of deleted events with a NULL event; nobody can reach those, so they go too.
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(Text)  # plain text, escaped wherever it is shown
    author: Mapped[str] = mapped_column(String(16))
    is_author_visible: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
