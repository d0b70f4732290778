"""The events a collection selects (gancio-api.md §5.12), in E-collection shape (§2.3.9) or for feeds.

A collection's events come from ONE statement whose WHERE clause is built from its filters: each
filter is the AND of its non-empty parts (tags through an EXISTS on event_tags, places with IN, actors
with IN), the non-negated filters are OR-ed, and each negated filter is added as NOT(...). Every part is
written so that it is true or false, never NULL, because NOT(NULL) would drop events without a place
from a collection that only excludes a place. The tags of the page of events then come in one more
query. Filters are read first (one small query): their JSON cannot be matched in portable SQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, not_, or_, select, true
from sqlalchemy.orm import Session

from piazza.errors import NotFound
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.events.queries import feed_event, partitions
from piazza.events.tags import tags_of
from piazza.events.wire import EVENT_COLUMNS, PLACE_COLUMNS, iso, place_to_wire
from piazza.instance.models import Collection, Filter
from piazza.instance.settings import read_settings


@dataclass(frozen=True)
class CollectionQuery:
    """`GET /api/collections/:name` parameters (§2.7); `end` serves the home page's collection."""

    start_at: int
    end: int | None = None
    max: int | None = None
    reverse: bool = False
    older: bool = False
    show_recurrent: bool | None = None  # None: the `recurrent_event_visible` setting decides


def _is_true(value: str | None) -> bool:
    # Here only the string "true" counts (§2.7), unlike /api/events' `older`.
    return value is not None and value.strip().lower() == "true"


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if number == number and abs(number) < 2**53 else None  # NaN, inf: absent


def parse_collection_query(params: Mapping[str, str | None], now: int | None = None) -> CollectionQuery:
    """From query parameters; unparsable numbers count as absent, as JavaScript's Number gives NaN."""
    start_at = _integer(params.get("start_at"))
    limit = _integer(params.get("max"))
    show_recurrent = params.get("show_recurrent")
    return CollectionQuery(
        start_at=start_at if start_at is not None else (now if now is not None else int(time.time())),
        max=limit if limit is not None and limit > 0 else None,
        reverse=_is_true(params.get("reverse")),
        older=_is_true(params.get("older")),
        show_recurrent=None if show_recurrent is None else _is_true(show_recurrent),
    )


def start_is_given(params: Mapping[str, str | None]) -> bool:
    """Whether `start_at` names a time (otherwise the answer starts "now")."""
    return _integer(params.get("start_at")) is not None


def _tags_condition(tags: Sequence[str]) -> ColumnElement[bool]:
    # Tags are matched through their casefolded key, so a filter on `Musik` finds events tagged `musik`
    # (Gancio compares exactly, which on SQLite is case-sensitive and elsewhere not).
    folded = sorted({tag.casefold() for tag in tags})
    return exists(
        select(EventTag.event_id)
        .join(Tag, Tag.tag == EventTag.tag)
        .where(EventTag.event_id == Event.id, Tag.folded.in_(folded))
    )


def _actors_condition(actors: Sequence[Mapping[str, Any]]) -> ColumnElement[bool]:
    remote = sorted({a["ap_id"] for a in actors if a.get("ap_id") is not None})
    options: list[ColumnElement[bool]] = []
    if any(a.get("ap_id") is None for a in actors):
        options.append(Event.ap_user_ap_id.is_(None))
    if remote:
        options.append(and_(Event.ap_user_ap_id.is_not(None), Event.ap_user_ap_id.in_(remote)))
    return or_(*options)


def filter_condition(item: Mapping[str, Any]) -> ColumnElement[bool] | None:
    """The AND of a filter's non-empty parts, never NULL; None for a filter without criteria."""
    # Rows imported from Gancio may hold nulls or odd items; only well-formed ones count.
    parts: list[ColumnElement[bool]] = []
    tags = [tag for tag in item.get("tags") or [] if isinstance(tag, str) and tag]
    if tags:
        parts.append(_tags_condition(tags))
    place_ids = sorted(
        {p["id"] for p in item.get("places") or [] if isinstance(p, dict) and isinstance(p.get("id"), int)}
    )
    if place_ids:
        parts.append(and_(Event.place_id.is_not(None), Event.place_id.in_(place_ids)))
    actors = [a for a in item.get("actors") or [] if isinstance(a, dict) and "ap_id" in a]
    if actors:
        parts.append(_actors_condition(actors))
    return and_(*parts) if parts else None


def collection_condition(filters: Sequence[Mapping[str, Any]]) -> ColumnElement[bool] | None:
    """OR of the filters, minus the negated ones (§5.12); None when no filter has criteria.

    A collection whose only filters are negated selects every event except those (Gancio leaves this
    case unspecified).
    """
    included: list[ColumnElement[bool]] = []
    excluded: list[ColumnElement[bool]] = []
    for item in filters:
        condition = filter_condition(item)
        if condition is not None:
            (excluded if item.get("negate") else included).append(condition)
    if not included and not excluded:
        return None
    return and_(or_(*included) if included else true(), *(not_(c) for c in excluded))


def _filters_of(db: Session, name: str) -> list[dict[str, Any]] | None:
    """The filters of the collection `name`, or None when there is no such collection."""
    rows = db.execute(
        select(Collection.id, Filter.tags, Filter.places, Filter.actors, Filter.negate)
        .outerjoin(Filter, Filter.collection_id == Collection.id)
        .where(Collection.name == name)
    ).all()
    if not rows:
        return None
    return [
        {"tags": r.tags, "places": r.places, "actors": r.actors, "negate": r.negate}
        for r in rows
        if r.negate is not None  # the outer join's empty row for a collection without filters
    ]


def collection_statement(
    filters: Sequence[Mapping[str, Any]],
    q: CollectionQuery,
    *,
    show_recurrent: bool,
    columns: Sequence[Any] = EVENT_COLUMNS,
) -> Select[Any] | None:
    """The one SELECT of a collection's events with their place, or None if it selects nothing."""
    matching = collection_condition(filters)
    if matching is None:
        return None
    conditions: list[ColumnElement[bool]] = [
        Event.is_visible.is_(True),
        Event.recurrent.is_(None),  # never the recurrent parents, only their occurrences
        matching,
    ]
    if q.older:
        conditions.append(Event.start_datetime <= q.start_at)
        if q.end is not None:
            conditions.append(Event.start_datetime >= q.end)
    else:
        conditions.append(or_(Event.start_datetime >= q.start_at, Event.end_datetime >= q.start_at))
        if q.end is not None:
            conditions.append(Event.start_datetime <= q.end)
    if not show_recurrent:
        conditions.append(Event.parent_id.is_(None))
    order = (Event.start_datetime.desc(), Event.id.desc()) if q.reverse else (Event.start_datetime, Event.id)
    stmt = (
        select(*columns, Event.place_id, *PLACE_COLUMNS)
        .select_from(Event)
        .outerjoin(Place, Place.id == Event.place_id)
        .where(*conditions)
        .order_by(*order)
    )
    return stmt.limit(q.max) if q.max else stmt


def _statement_of(db: Session, name: str, q: CollectionQuery, columns: Sequence[Any]) -> Select[Any] | None:
    """The statement of a collection's events (None when it selects nothing). Raises NotFound for an
    unknown collection."""
    filters = _filters_of(db, name)
    if filters is None:
        raise NotFound("Collection not found")
    flags = read_settings(db, ("allow_recurrent_event", "recurrent_event_visible"))
    wants = flags["recurrent_event_visible"] is True if q.show_recurrent is None else q.show_recurrent
    return collection_statement(
        filters, q, show_recurrent=flags["allow_recurrent_event"] is True and wants, columns=columns
    )


def _collection_rows(
    db: Session, name: str, q: CollectionQuery, columns: Sequence[Any]
) -> tuple[list[Any], dict[int, list[str]]] | None:
    """Rows and tags of a collection's events; None for an unknown collection."""
    try:
        stmt = _statement_of(db, name, q, columns)
    except NotFound:
        return None
    if stmt is None:
        return [], {}
    rows = db.execute(stmt).mappings().all()
    return list(rows), tags_of(db, [row["id"] for row in rows])


def iter_collection_events(
    db: Session, name: str, q: CollectionQuery, *, for_feed: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """`get_collection_events` (or, `for_feed`, `collection_feed_events`) in batches. Raises NotFound
    for an unknown collection, before the first batch."""
    stmt = _statement_of(db, name, q, EVENT_COLUMNS if for_feed else COLLECTION_COLUMNS)
    return _collection_batches(db, stmt, for_feed)


def _collection_batches(
    db: Session, stmt: Select[Any] | None, for_feed: bool
) -> Iterator[list[dict[str, Any]]]:
    if stmt is None:
        return
    for rows in partitions(db, stmt):
        tags = tags_of(db, [row["id"] for row in rows])
        if for_feed:
            yield [feed_event(row, tags[row["id"]]) for row in rows]
        else:
            yield [collection_event_to_wire(row, tags[row["id"]]) for row in rows]


COLLECTION_COLUMNS = (
    Event.id,
    Event.title,
    Event.slug,
    Event.multidate,
    Event.start_datetime,
    Event.end_datetime,
    Event.image_path,
    Event.media,
    Event.recurrent,
    Event.online_locations,
    Event.ap_id,
    Event.updated_at,
    Event.parent_id,
)


def collection_event_to_wire(row: Mapping[str, Any], tags: Sequence[str]) -> dict[str, Any]:
    """E-collection (§2.3.9): falsy multidate, image_path, recurrent and parentId are left out."""
    wire: dict[str, Any] = {"id": row["id"], "title": row["title"], "slug": row["slug"]}
    if row["multidate"]:
        wire["multidate"] = row["multidate"]
    wire["start_datetime"] = row["start_datetime"]
    wire["end_datetime"] = row["end_datetime"]
    if row["image_path"]:
        wire["image_path"] = row["image_path"]
    wire["media"] = row["media"] or []
    if row["recurrent"]:
        wire["recurrent"] = row["recurrent"]
    wire["online_locations"] = row["online_locations"] or []
    wire["ap_id"] = row["ap_id"]
    wire["updatedAt"] = iso(row["updated_at"])
    if row["parent_id"]:
        wire["parentId"] = row["parent_id"]
    wire["tags"] = list(tags)
    place = place_to_wire(row)
    wire["place"] = None if place is None else {k: place[k] for k in ("id", "name", "address")}
    # Gancio puts the remote actor's icon here for federated events; Piazza keeps no actors.
    wire["ap_user"] = None
    return wire


def collection_events(
    db: Session,
    name: str,
    *,
    start_at: int,
    end: int | None = None,
    max: int | None = None,  # noqa: A002  (Gancio's parameter name)
    reverse: bool = False,
    older: bool = False,
    show_recurrent: bool | None = None,
) -> list[dict[str, Any]]:
    """The events of the collection `name` in E-collection shape; `[]` when unknown or without filters.

    For `GET /api/collections/:name` and for `/api/events` when `collection_in_home` is set (§5.10).
    """
    q = CollectionQuery(start_at, end, max, reverse, older, show_recurrent)
    try:
        return get_collection_events(db, name, q)
    except NotFound:
        return []


def get_collection_events(db: Session, name: str, q: CollectionQuery) -> list[dict[str, Any]]:
    """Like `collection_events`, but raises NotFound for an unknown collection (the feeds)."""
    found = _collection_rows(db, name, q, COLLECTION_COLUMNS)
    if found is None:
        raise NotFound("Collection not found")
    rows, tags = found
    return [collection_event_to_wire(row, tags[row["id"]]) for row in rows]


def collection_feed_events(db: Session, name: str, q: CollectionQuery) -> list[dict[str, Any]]:
    """A collection's events for `feeds.render_rss`/`render_ics`. Raises NotFound for an unknown name."""
    found = _collection_rows(db, name, q, EVENT_COLUMNS)
    if found is None:
        raise NotFound("Collection not found")
    rows, tags = found
    return [feed_event(row, tags[row["id"]]) for row in rows]
