"""The database side of recurrence (gancio-api.md §5.9 "What the generator does").

A recurrent *parent* carries the rule in `recurrent` and never appears in listings; its occurrences
are ordinary rows with `parent_id` set. A parent keeps at most one upcoming visible occurrence: the
generator creates the next one when there is none, after a create, update or confirm of a visible
parent, and from a periodic task (`generate_all`). Dates come from `recurrence.next_occurrence`, which
works in the instance time zone.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from piazza.events import recurrence
from piazza.events.models import Event
from piazza.events.slugs import unique_slug
from piazza.events.tags import set_event_tags, tags_of
from piazza.instance.settings import get_setting

# How often the periodic task runs (Gancio: every 30 minutes, §5.13).
GENERATOR_INTERVAL_SECONDS = 30 * 60


def validate_rule(value: Any) -> dict[str, Any]:
    """The normalised rule of a `recurrent` value. Raises Invalid (recurrence.validate_rule)."""
    return recurrence.validate_rule(value)


def _next_occurrence(parent: Event, after: int, tz_name: str) -> tuple[int, int | None] | None:
    return recurrence.next_occurrence(
        parent.start_datetime, parent.end_datetime, parent.recurrent, after, tz_name
    )


def generate_for_parent(db: Session, parent: Event, *, now: int) -> Event | None:
    """Create the parent's next occurrence if it has no upcoming visible one; return it, or None."""
    if parent.recurrent is None or not parent.is_visible or parent.parent_id is not None:
        return None
    # Lock the parent (PostgreSQL) so that two nodes running the generator cannot both add a child;
    # SQLite serialises writers already.
    db.execute(select(Event.id).where(Event.id == parent.id).with_for_update())
    upcoming = db.execute(
        select(Event.start_datetime, Event.is_visible).where(
            Event.parent_id == parent.id, Event.start_datetime >= now
        )
    ).all()
    if any(row.is_visible for row in upcoming):
        return None
    # Only hidden (skipped) occurrences ahead: continue one second after the latest of them.
    after = max(row.start_datetime for row in upcoming) + 1 if upcoming else now
    tz_name = get_setting(db, "instance_timezone") or "Europe/Rome"
    dates = _next_occurrence(parent, after, tz_name)
    if dates is None:
        return None
    start, end = dates
    child = Event(
        title=parent.title,
        slug=unique_slug(db, parent.slug or parent.title),
        description=parent.description,
        start_datetime=start,
        end_datetime=end,
        media=[dict(item) for item in parent.media or []],
        is_visible=True,
        recurrent=None,
        likes=[],
        boost=[],
        online_locations=list(parent.online_locations or []),
        place_id=parent.place_id,
        user_id=parent.user_id,
        parent_id=parent.id,
    )
    db.add(child)
    db.flush()
    set_event_tags(db, child.id, tags_of(db, [parent.id])[parent.id])
    return child


def generate_all(db: Session, *, now: int | None = None) -> int:
    """The periodic task: give every visible parent its next occurrence. Returns how many were made."""
    now = now if now is not None else int(time.time())
    parents = db.scalars(
        select(Event).where(
            Event.recurrent.is_not(None), Event.is_visible.is_(True), Event.parent_id.is_(None)
        )
    ).all()
    return sum(generate_for_parent(db, parent, now=now) is not None for parent in parents)
