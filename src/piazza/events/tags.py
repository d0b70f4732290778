"""Tags: normalization on write (gancio-api.md §5.5) and the admin operations (§2.6).

Tags are stored verbatim (a leading `_`, punctuation and any script included; sync tools key on
them) and matched case-insensitively through `Tag.folded` (str.casefold), so `Musik` and `MUSIK` are
one tag whose stored spelling wins, in every script rather than ASCII only as SQLite's LOWER would.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ARRAY, Integer, Select, String, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from piazza.db.base import affected_rows
from piazza.errors import Invalid, NotFound
from piazza.events.models import Event, EventTag, Tag

MAX_TAG_LENGTH = 255
MAX_TAGS = 100
TAGS_MUST_BE_ARRAY = "tags field must be an array"


def validate_tag_list(value: Any) -> list[str]:
    """The trimmed, non-empty tag strings of a `tags` field. Raises Invalid (Gancio's message)."""
    if not isinstance(value, list):
        raise Invalid(TAGS_MUST_BE_ARRAY, field="tags")
    if len(value) > MAX_TAGS:
        raise Invalid(f"at most {MAX_TAGS} tags", field="tags")
    tags = []
    for item in value:
        if not isinstance(item, str):
            raise Invalid("tags must be strings", field="tags")
        item = item.strip()
        if len(item) > MAX_TAG_LENGTH:
            raise Invalid(f"tags are at most {MAX_TAG_LENGTH} characters", field="tags")
        if item:
            tags.append(item)
    return tags


# Built once, run on the connection: plain Core, without the ORM session's per-statement machinery
# (POST /api/event runs these on every call).
_EXISTING = (
    select(Tag.tag, Tag.folded)
    .where(Tag.folded.in_(bindparam("folded", expanding=True)))
    .order_by(Tag.created_at, Tag.tag)
)
# Concurrent posts may create the same new tag; PostgreSQL runs them side by side, and a plain INSERT
# failed the later one (a 500 in the PostgreSQL bench). The later insert now waits for the earlier
# transaction and keeps its row.
_INSERT_TAG = {
    "sqlite": sqlite.insert(Tag).on_conflict_do_nothing(index_elements=[Tag.tag]),
    "postgresql": postgresql.insert(Tag).on_conflict_do_nothing(index_elements=[Tag.tag]),
}
_INSERT_EVENT_TAG = insert(EventTag)


def normalize_tags(db: Session, wanted: list[str]) -> list[str]:
    """Existing tags (stored spelling, in creation order) then new ones (first spelling, input order).

    Creates the missing Tag rows. `wanted` comes from validate_tag_list.
    """
    folded = {tag.casefold() for tag in wanted}
    if not folded:
        return []
    conn = db.connection()
    rows = conn.execute(_EXISTING, {"folded": sorted(folded)}).all()
    existing: dict[str, str] = {}
    exact = set(wanted)
    for tag, key in rows:
        # When a database holds two spellings of one tag (imports), an exact match wins.
        if key not in existing or tag in exact:
            existing[key] = tag
    result = [tag for tag, key in rows if existing.get(key) == tag]
    created: dict[str, str] = {}
    for tag in wanted:
        key = tag.casefold()
        if key not in existing and key not in created:
            created[key] = tag
    if created:
        new_rows = [{"tag": tag, "folded": key} for key, tag in created.items()]
        conn.execute(_INSERT_TAG[conn.dialect.name], new_rows)
    return result + list(created.values())


def set_event_tags(db: Session, event_id: int, tags: list[str]) -> None:
    """Replace the event's tags with `tags` (as normalize_tags returns them)."""
    db.connection().execute(delete(EventTag).where(EventTag.event_id == event_id))
    add_event_tags(db, event_id, tags)


def add_event_tags(db: Session, event_id: int, tags: list[str]) -> None:
    """Link a new event, which has no tags yet, to `tags`."""
    if tags:
        # Rows in order: each gets its own created_at default, which orders an event's tags (tags_of).
        db.connection().execute(_INSERT_EVENT_TAG, [{"event_id": event_id, "tag": tag} for tag in tags])


# Built once: the listing calls this on every request (design.md "SQL for hot paths"). The ids travel
# as one parameter, a JSON array on SQLite and an array on PostgreSQL: an expanding IN of 50
# parameters cost more in SQLAlchemy's per-execution rewriting than the query itself.
_ORDER = (EventTag.event_id, EventTag.created_at, EventTag.tag)
_SQLITE_IDS = func.json_each(bindparam("ids", type_=String)).table_valued("value")
_TAGS_OF = {
    "sqlite": select(EventTag.event_id, EventTag.tag)
    .where(EventTag.event_id.in_(select(_SQLITE_IDS.c.value)))
    .order_by(*_ORDER),
    "postgresql": select(EventTag.event_id, EventTag.tag)
    .where(EventTag.event_id == any_(bindparam("ids", type_=ARRAY(Integer))))
    .order_by(*_ORDER),
}


def tags_of(db: Session, event_ids: list[int]) -> dict[int, list[str]]:
    """Tags per event id, in one query."""
    result: dict[int, list[str]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return result
    # On the connection: a plain Core execution, without the ORM session's per-statement machinery.
    connection = db.connection()
    dialect = connection.dialect.name
    ids = json.dumps(event_ids) if dialect == "sqlite" else event_ids
    # `.all()` fetches the rows in one call rather than one by one.
    for event_id, tag in connection.execute(_TAGS_OF[dialect], {"ids": ids}).all():
        result[event_id].append(tag)
    return result


def _visible_usage() -> Select[str, int]:
    """Tags with their number of visible events, most used first."""
    count = func.count(EventTag.event_id).label("count")
    return (
        select(EventTag.tag, count)
        .join(Event, Event.id == EventTag.event_id)
        .where(Event.is_visible.is_(True))
        .group_by(EventTag.tag)
        .order_by(count.desc(), EventTag.tag)
    )


def search_tags(db: Session, search: str | None, limit: int = 10) -> list[str]:
    """`GET /api/tag?search=`: at most 10 used tags containing `search`, most used first."""
    query = _visible_usage().limit(limit)
    if search:
        query = query.where(func.lower(EventTag.tag).contains(search.lower(), autoescape=True))
    return [row.tag for row in db.execute(query)]


def list_tags_with_counts(db: Session) -> list[dict[str, Any]]:
    """`GET /api/tags` (admin): `[{tag, count}]` over visible events."""
    return [{"tag": row.tag, "count": row.count} for row in db.execute(_visible_usage())]


def check_tag_exists(db: Session, tag: str) -> bool:
    return db.scalar(select(Tag.tag).where(Tag.tag == tag)) is not None


def delete_tag(db: Session, tag: str) -> None:
    """Raises NotFound."""
    if affected_rows(db.execute(delete(Tag).where(Tag.tag == tag))) == 0:
        raise NotFound()


def rename_tag(db: Session, tag: Any, new_tag: Any) -> None:
    """`PUT /api/tag`: rename, or merge into `new_tag` when it exists. Raises Invalid, NotFound."""
    if not isinstance(tag, str) or not isinstance(new_tag, str) or not new_tag.strip():
        raise Invalid("tag and newTag required")
    new_tag = new_tag.strip()
    if len(new_tag) > MAX_TAG_LENGTH:
        raise Invalid(f"tags are at most {MAX_TAG_LENGTH} characters", field="newTag")
    if db.get(Tag, tag) is None:
        raise NotFound()
    if tag == new_tag:
        return
    if db.get(Tag, new_tag) is None:
        db.add(Tag(tag=new_tag, folded=new_tag.casefold()))
        db.flush()
    # Move the links (skipping events that already carry the target), then drop the old tag.
    already = select(EventTag.event_id).where(EventTag.tag == new_tag)
    db.execute(
        update(EventTag)
        .where(EventTag.tag == tag, EventTag.event_id.not_in(already))
        .values(tag=new_tag)
        .execution_options(synchronize_session=False)
    )
    db.execute(delete(Tag).where(Tag.tag == tag))
    db.flush()
