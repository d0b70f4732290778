"""Instance-wide tables: settings, collections and their filters, static pages, announcements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from piazza.db.base import Base, UTCDateTime, utcnow


class Setting(Base):
    """One instance setting; stored rows override the defaults in instance/settings.py."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    is_secret: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Collection(Base):
    """A named selection of events defined by its filters (gancio-api.md §4.5, §5.12)."""

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    is_actor: Mapped[bool] = mapped_column(default=True)  # unused by Gancio; kept for the wire
    is_top: Mapped[bool] = mapped_column(default=True)  # pinned in the home page's navigation
    sort_index: Mapped[int] = mapped_column(default=0)


class Filter(Base):
    """One filter of a collection: the AND of its non-empty parts, or their negation (§5.12)."""

    __tablename__ = "filters"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Gancio sets NULL when its collection goes, leaving filters nobody can reach; they go with it here.
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    tags: Mapped[Any] = mapped_column(JSON, default=list)  # ["tag", ...]
    places: Mapped[Any] = mapped_column(JSON, default=list)  # [{"id": 1, "name": "..."}, ...]
    actors: Mapped[Any] = mapped_column(JSON, default=list)  # [{"ap_id": null | "...", ...}, ...]
    negate: Mapped[bool] = mapped_column(default=False)


class Page(Base):
    """A static page (the addendum of gancio-api.md), shown at /p/{slug} when visible."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    content: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML (§5.6)
    visible: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Announcement(Base):
    """A notice shown at the top of the home page while visible (§2.8, §4.7)."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    announcement: Mapped[str] = mapped_column(Text, default="")  # sanitized HTML; Gancio stores it raw
    visible: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
