"""The database side of recurrence (gancio-api.md §5.9 "What the generator does").

A recurrent *parent* carries the rule in `recurrent` and never appears in listings; its occurrences
are ordinary rows with `parent_id` set. A parent keeps at most one upcoming visible occurrence: the
generator creates the next one when there is none, after a create, update or confirm of a visible
parent, and from a periodic task (`generate_all`). Dates come from `recurrence.next_occurrence`, which
works in the instance time zone.

The decision and the new row are pure functions (`next_dates`, `occurrence_values`) over the parent's
columns (`PARENT_COLUMNS`), so that bulk tools (bench/seed.py) date occurrences exactly as the service
does without one round of queries per parent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.orm import Session, aliased

from piazza.db.base import inserted_id, utcnow
from piazza.events import recurrence
from piazza.events.models import Event
from piazza.events.slugs import unique_slug
from piazza.events.tags import add_event_tags, tags_of
from piazza.instance.settings import get_setting

# How often the periodic task runs (Gancio: every 30 minutes, §5.13).
GENERATOR_INTERVAL_SECONDS = 30 * 60

# What the generator reads of a parent: `parent_values` of an Event, or these columns selected.
PARENT_COLUMNS = (
    Event.id,
    Event.title,
    Event.slug,
    Event.description,
    Event.start_datetime,
    Event.end_datetime,
    Event.media,
    Event.is_visible,
    Event.recurrent,
    Event.online_locations,
    Event.place_id,
    Event.user_id,
    Event.parent_id,
)

Parent = Mapping[str, Any] | RowMapping


def validate_rule(value: Any) -> dict[str, Any]:
    """The normalised rule of a `recurrent` value. Raises Invalid (recurrence.validate_rule)."""
    return recurrence.validate_rule(value)


def parent_values(event: Event) -> dict[str, Any]:
    """The PARENT_COLUMNS of an ORM event."""
    return {column.key: getattr(event, column.key) for column in PARENT_COLUMNS}


def instance_timezone(db: Session) -> str:
    return get_setting(db, "instance_timezone") or recurrence.DEFAULT_TIMEZONE


def is_generating(parent: Parent) -> bool:
    """Only visible parents get occurrences; an occurrence never has its own."""
    return parent["recurrent"] is not None and bool(parent["is_visible"]) and parent["parent_id"] is None


def next_dates(
    parent: Parent, upcoming: Sequence[tuple[int, bool]], *, now: int, tz_name: str
) -> tuple[int, int | None] | None:
    """(start, end) of the occurrence to create, given the parent's occurrences starting at or after
    `now` as (start, is_visible); None when one of them is visible or the rule has no date left."""
    if any(visible for _start, visible in upcoming):
        return None
    # Only hidden (skipped) occurrences ahead: continue one second after the latest of them.
    after = max(start for start, _visible in upcoming) + 1 if upcoming else now
    return recurrence.next_occurrence(
        parent["start_datetime"], parent["end_datetime"], parent["recurrent"], after, tz_name
    )


def occurrence_values(
    parent: Parent, dates: tuple[int, int | None], slug: str | None, created: datetime
) -> dict[str, Any]:
    """The new occurrence's columns: the parent's, with its own dates and slug, visible, no rule."""
    start, end = dates
    return {
        "title": parent["title"],
        "slug": slug,
        "description": parent["description"],
        "start_datetime": start,
        "end_datetime": end,
        "media": [dict(item) for item in parent["media"] or []],
        "is_visible": True,
        "recurrent": None,
        "likes": [],
        "boost": [],
        "online_locations": list(parent["online_locations"] or []),
        "place_id": parent["place_id"],
        "user_id": parent["user_id"],
        "parent_id": parent["id"],
        "created_at": created,
        "updated_at": created,
    }


def occurrence_slug_source(parent: Parent) -> str:
    """What the occurrence's slug is made from (then made unique like any other)."""
    source: str = parent["slug"] or parent["title"]
    return source


def generate_for_parent(
    db: Session,
    parent: Parent,
    *,
    now: int,
    tags: list[str] | None = None,
    tz_name: str | None = None,
) -> int | None:
    """Create the parent's next occurrence if it has no upcoming visible one; return its id, or None.

    `tags` are the parent's tags when the caller has them at hand (they are read otherwise).
    """
    if not is_generating(parent):
        return None
    conn = db.connection()
    # Lock the parent (PostgreSQL) so that two nodes running the generator cannot both add a child;
    # SQLite serialises writers already.
    conn.execute(select(Event.id).where(Event.id == parent["id"]).with_for_update())
    upcoming = [
        (row.start_datetime, row.is_visible)
        for row in conn.execute(
            select(Event.start_datetime, Event.is_visible).where(
                Event.parent_id == parent["id"], Event.start_datetime >= now
            )
        )
    ]
    dates = next_dates(parent, upcoming, now=now, tz_name=tz_name or instance_timezone(db))
    if dates is None:
        return None
    values = occurrence_values(parent, dates, unique_slug(db, occurrence_slug_source(parent)), utcnow())
    child_id = inserted_id(conn.execute(insert(Event), values))
    add_event_tags(db, child_id, tags if tags is not None else tags_of(db, [parent["id"]])[parent["id"]])
    return child_id


def generate_all(db: Session, *, now: int | None = None) -> int:
    """The periodic task: give every visible parent its next occurrence. Returns how many were made."""
    now = now if now is not None else int(time.time())
    tz_name = instance_timezone(db)
    # Only parents without an upcoming visible occurrence, found in one statement: most parents have
    # one, and two queries for each of them (100,000 in a large agenda) held the write lock for
    # seconds. generate_for_parent checks again under its lock.
    child = aliased(Event)
    has_upcoming = (
        select(child.id)
        .where(child.parent_id == Event.id, child.start_datetime >= now, child.is_visible.is_(True))
        .exists()
    )
    parents = (
        db.connection()
        .execute(
            select(*PARENT_COLUMNS).where(
                Event.recurrent.is_not(None),
                Event.is_visible.is_(True),
                Event.parent_id.is_(None),
                ~has_upcoming,
            )
        )
        .mappings()
        .all()
    )
    return sum(generate_for_parent(db, parent, now=now, tz_name=tz_name) is not None for parent in parents)
