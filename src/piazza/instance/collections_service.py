"""Collections and their filters (gancio-api.md §2.7, §4.5) and the events they select (§5.12).

A collection's events come from ONE statement whose WHERE clause is built from its filters: each
filter is the AND of its non-empty parts (tags through an EXISTS on event_tags, places with IN, actors
with IN), the non-negated filters are OR-ed, and each negated filter is added as NOT(...). Every part is
written so that it is true or false, never NULL, because NOT(NULL) would drop events without a place
from a collection that only excludes a place. The tags of the page of events then come in one more
query. Filters are read first (one small query): their JSON cannot be matched in portable SQL.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from piazza.errors import Invalid, NotFound
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.events.queries import feed_event
from piazza.events.tags import tags_of
from piazza.events.wire import EVENT_COLUMNS, PLACE_COLUMNS, iso, place_to_wire
from piazza.instance.models import Collection, Filter, Setting
from piazza.instance.settings import DEFAULTS

MAX_NAME_LENGTH = 255
MAX_FILTER_ITEMS = 100
MAX_TEXT_LENGTH = 255

# --- wire shapes ---------------------------------------------------------------------------------------


def collection_to_wire(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "name": collection.name,
        "isActor": collection.is_actor,
        "isTop": collection.is_top,
        "sortIndex": collection.sort_index,
    }


def filter_to_wire(item: Filter) -> dict[str, Any]:
    return {
        "id": item.id,
        "negate": item.negate,
        "tags": item.tags,
        "places": item.places,
        "actors": item.actors,
        "collectionId": item.collection_id,
    }


# --- collections ---------------------------------------------------------------------------------------


def list_collections(db: Session, *, with_filters: bool, pinned_only: bool) -> list[dict[str, Any]]:
    """All collections by sortIndex; with their filters, or only the pinned ones, when asked."""
    stmt = select(Collection).order_by(Collection.sort_index, Collection.id)
    if pinned_only:
        stmt = stmt.where(Collection.is_top.is_(True))
    collections = db.scalars(stmt).all()
    wire = [collection_to_wire(c) for c in collections]
    if with_filters:
        by_collection: dict[int, list[dict[str, Any]]] = {c.id: [] for c in collections}
        for item in db.scalars(select(Filter).order_by(Filter.id)):
            if item.collection_id in by_collection:
                by_collection[item.collection_id].append(filter_to_wire(item))
        for entry in wire:
            entry["filters"] = by_collection[entry["id"]]
    return wire


def validate_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("name required", field="name")
    name = value.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"name is at most {MAX_NAME_LENGTH} characters", field="name")
    return name


def create_collection(db: Session, name: Any) -> dict[str, Any]:
    """A new pinned collection at the end of the order. Raises Invalid (empty or duplicate name)."""
    name = validate_name(name)
    last = db.scalar(select(func.max(Collection.sort_index))) or 0
    collection = Collection(name=name, is_actor=True, is_top=True, sort_index=last + 1)
    try:
        # The unique index decides, so two admins racing on PostgreSQL get a 400 too, not a 500.
        with db.begin_nested():
            db.add(collection)
    except IntegrityError:
        # Gancio answers 400 with the database error; the reason in words is kinder.
        raise Invalid("a collection with this name already exists", field="name") from None
    return collection_to_wire(collection)


def _get_collection(db: Session, collection_id: int) -> Collection:
    collection = db.get(Collection, collection_id)
    if collection is None:
        raise NotFound()
    return collection


def delete_collection(db: Session, collection_id: int) -> None:
    """Delete a collection and its filters. Raises NotFound."""
    db.delete(_get_collection(db, collection_id))
    db.flush()


def toggle_collection(db: Session, collection_id: int) -> bool:
    """Flip `isTop` and return the PREVIOUS value, as Gancio does (§2.7, verified). Raises NotFound."""
    collection = _get_collection(db, collection_id)
    previous = collection.is_top
    collection.is_top = not previous
    db.flush()
    return previous


def move_collection_up(db: Session, sort_index: int) -> None:
    """Swap the collection at `sort_index` with the one just before it. Raises NotFound."""
    current = db.scalar(
        select(Collection).where(Collection.sort_index == sort_index).order_by(Collection.id).limit(1)
    )
    previous = db.scalar(
        select(Collection)
        .where(Collection.sort_index < sort_index)
        .order_by(Collection.sort_index.desc(), Collection.id.desc())
        .limit(1)
    )
    if current is None or previous is None:
        raise NotFound()
    current.sort_index, previous.sort_index = previous.sort_index, current.sort_index
    db.flush()


# --- filters -------------------------------------------------------------------------------------------


def list_filters(db: Session, collection_id: int) -> list[dict[str, Any]]:
    items = db.scalars(select(Filter).where(Filter.collection_id == collection_id).order_by(Filter.id))
    return [filter_to_wire(item) for item in items]


def _validate_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{field} must be an array", field=field)
    if len(value) > MAX_FILTER_ITEMS:
        raise Invalid(f"at most {MAX_FILTER_ITEMS} {field}", field=field)
    return value


def validate_tags(value: Any) -> list[str]:
    tags = []
    for item in _validate_list(value, "tags"):
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > MAX_TEXT_LENGTH:
            raise Invalid("tags must be non-empty strings", field="tags")
        tags.append(item.strip())
    return tags


def validate_places(value: Any) -> list[dict[str, Any]]:
    """`[{id, name}]` as the web client sends them; a bare id is accepted too."""
    places = []
    for item in _validate_list(value, "places"):
        place_id = item.get("id") if isinstance(item, dict) else item
        if isinstance(place_id, str) and place_id.strip().isdigit():
            place_id = int(place_id.strip())
        if isinstance(place_id, bool) or not isinstance(place_id, int) or not 0 < place_id < 2**63:
            raise Invalid("places must be objects with a numeric id", field="places")
        name = item.get("name") if isinstance(item, dict) else None
        if name is not None and (not isinstance(name, str) or len(name) > MAX_TEXT_LENGTH):
            raise Invalid("a place name must be a string", field="places")
        places.append({"id": place_id, "name": name})
    return places


def validate_actors(value: Any) -> list[dict[str, Any]]:
    """`[{ap_id, ...}]`; `ap_id: null` stands for this instance's own events."""
    actors = []
    for item in _validate_list(value, "actors"):
        if not isinstance(item, dict) or "ap_id" not in item:
            raise Invalid("actors must be objects with an ap_id", field="actors")
        ap_id = item["ap_id"]
        if ap_id is not None and (not isinstance(ap_id, str) or not ap_id or len(ap_id) > 2048):
            raise Invalid("an actor's ap_id must be a string or null", field="actors")
        kept = {key: val for key, val in item.items() if isinstance(val, str | int | float | bool | None)}
        actors.append(kept)
    return actors


def validate_negate(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", ""):
        return value.strip().lower() in ("true", "1")
    if value is None:
        return False
    raise Invalid("negate must be a boolean", field="negate")


_FILTER_FIELDS = {
    "tags": validate_tags,
    "places": validate_places,
    "actors": validate_actors,
    "negate": validate_negate,
}


def create_filter(db: Session, body: Mapping[str, Any]) -> dict[str, Any]:
    """A filter for `collectionId`; returns the given keys plus `id`, as Gancio (verified). Raises Invalid."""
    collection_id = body.get("collectionId")
    if isinstance(collection_id, str) and collection_id.strip().isdigit():
        collection_id = int(collection_id.strip())
    if isinstance(collection_id, bool) or not isinstance(collection_id, int) or collection_id <= 0:
        raise Invalid("collectionId required", field="collectionId")
    if db.get(Collection, collection_id) is None:
        raise Invalid("collection not found", field="collectionId")
    values = {field: check(body.get(field)) for field, check in _FILTER_FIELDS.items()}
    item = Filter(collection_id=collection_id, **values)
    db.add(item)
    db.flush()
    given = {"collectionId": collection_id} | {f: values[f] for f in _FILTER_FIELDS if f in body}
    return {"id": item.id} | given


def update_filter(db: Session, filter_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the given parts of a filter. Raises NotFound, Invalid."""
    item = db.get(Filter, filter_id)
    if item is None:
        raise NotFound()
    for field, check in _FILTER_FIELDS.items():
        if field in body:
            setattr(item, field, check(body[field]))
    db.flush()
    return filter_to_wire(item)


def delete_filter(db: Session, filter_id: int) -> None:
    """Raises NotFound."""
    item = db.get(Filter, filter_id)
    if item is None:
        raise NotFound()
    db.delete(item)
    db.flush()


# --- the events of a collection (§5.12) ----------------------------------------------------------------


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


def _settings(db: Session, keys: Sequence[str]) -> dict[str, Any]:
    values = {key: DEFAULTS.get(key) for key in keys}
    values.update(
        (key, value)
        for key, value in db.execute(select(Setting.key, Setting.value).where(Setting.key.in_(keys)))
    )
    return values


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


def _collection_rows(
    db: Session, name: str, q: CollectionQuery, columns: Sequence[Any]
) -> tuple[list[Any], dict[int, list[str]]] | None:
    """Rows and tags of a collection's events; None for an unknown collection."""
    filters = _filters_of(db, name)
    if filters is None:
        return None
    flags = _settings(db, ("allow_recurrent_event", "recurrent_event_visible"))
    wants = flags["recurrent_event_visible"] is True if q.show_recurrent is None else q.show_recurrent
    stmt = collection_statement(
        filters, q, show_recurrent=flags["allow_recurrent_event"] is True and wants, columns=columns
    )
    if stmt is None:
        return [], {}
    rows = db.execute(stmt).mappings().all()
    return list(rows), tags_of(db, [row["id"] for row in rows])


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
