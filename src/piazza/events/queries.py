"""Event reads: the listing (gancio-api.md §5.10), detail, mine, unconfirmed, meta, feeds' selection.

The listing is the hot path (design.md "SQL for hot paths"): one SELECT of event and place columns
read as mappings, then one SELECT of the tags of those ids; the settings it depends on are read inside
the first statement. Its date condition ("starts at or after S, or is still going on at S") is an OR
over two columns that no single index can serve in start order, so the statement is a UNION ALL of two
index-served branches: the next `page` events by start (ix_events_visible_start, stopped by LIMIT),
and the events that began before S and end after it (ix_events_visible_end, which also carries the
start, so non-matching entries are skipped inside the index).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy import union_all as sql_union_all
from sqlalchemy.orm import Session

from piazza.accounts.models import User
from piazza.errors import NotFound
from piazza.events.memo import TextMemo
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.events.places import find_place, place_row_to_wire
from piazza.events.sanitize import html_to_text
from piazza.events.schemas import parse_id, parse_number
from piazza.events.tags import tags_of
from piazza.events.wire import (
    EVENT_COLUMNS,
    LIST_COLUMNS,
    PLACE_COLUMNS,
    Shape,
    event_to_wire,
    iso,
    place_to_wire,
)
from piazza.instance.settings import DEFAULTS, get_setting, read_settings

FEED_LOOKBACK_SECONDS = 24 * 3600  # feeds start a day back, so today's events stay in them (§5.11)
RSS_LIMIT = 20
MAX_QUERY_LENGTH = 200
# Ranges of the numeric listing parameters. Gancio reads them as JavaScript numbers and answers any
# value; out-of-range values are clamped here, which gives the same answer without overflowing a
# 64-bit database integer (`start=1e30` used to be a 500): `max` above 1000 means 1000 (0, negative or
# not a number still means "no limit", as in Gancio), `page` stops at a million, and `start`/`end` at
# JavaScript's safe integers (±2**53 seconds, far beyond any stored event).
MAX_PAGE_SIZE = 1000
MAX_PAGE = 1_000_000
MAX_QUERY_TIMESTAMP = 2**53


LISTING_SETTINGS = (
    "allow_recurrent_event",
    "recurrent_event_visible",
    "allow_multidate_event",
    "collection_in_home",
)


@dataclass(frozen=True)
class ListingSettings:
    """The settings the listing depends on."""

    allow_recurrent_event: bool
    recurrent_event_visible: bool
    allow_multidate_event: bool
    collection_in_home: Any

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> ListingSettings:
        """From stored values (defaults for the missing ones). Switches are on for a JSON `true` only,
        as the settings API stores them; the string "true" is not a switch."""
        values = {key: settings.get(key, DEFAULTS[key]) for key in LISTING_SETTINGS}
        return cls(
            allow_recurrent_event=values["allow_recurrent_event"] is True,
            recurrent_event_visible=values["recurrent_event_visible"] is True,
            allow_multidate_event=values["allow_multidate_event"] is True,
            collection_in_home=values["collection_in_home"],
        )


def read_listing_settings(db: Session) -> ListingSettings:
    """One statement for the four settings, before the listing's own."""
    return ListingSettings.of(read_settings(db, LISTING_SETTINGS))


@dataclass(frozen=True)
class ListingQuery:
    """`GET /api/events` parameters, parsed as Gancio parses them (§5.10)."""

    start: int
    end: int | None = None
    older: bool = False
    tags: tuple[str, ...] = ()
    places: tuple[int, ...] = ()
    query: str | None = None
    limit: int | None = None
    page: int = 0
    show_recurrent: bool | None = None  # None: the `recurrent_event_visible` setting decides
    show_multidate: bool = True


def parse_listing(params: dict[str, list[str]], now: int | None = None) -> ListingQuery:
    """From query parameters (each a list of values); lists are comma separated or repeated."""

    def first(name: str) -> str | None:
        values = params.get(name)
        return values[0] if values else None

    def split(name: str) -> list[str]:
        items = [part.strip() for value in params.get(name, []) for part in value.split(",")]
        return [item for item in items if item]

    now = now if now is not None else int(time.time())
    start = parse_number(first("start"))
    end = parse_number(first("end"))
    limit = parse_number(first("max"))
    page = parse_number(first("page"))
    show_recurrent = first("show_recurrent")
    show_multidate = first("show_multidate")
    query = (first("query") or "").strip()[:MAX_QUERY_LENGTH] or None
    return ListingQuery(
        start=_clamp(start, MAX_QUERY_TIMESTAMP) if start is not None else now,
        end=_clamp(end, MAX_QUERY_TIMESTAMP) if end is not None else None,
        older=bool(first("older")),  # Gancio: any non-empty value, even "false", is true (verified)
        tags=tuple(split("tags")),
        places=tuple(p for p in (parse_id(v) for v in split("places")) if p is not None),
        query=query,
        limit=_clamp(limit, MAX_PAGE_SIZE) if limit and limit >= 1 else None,
        page=_clamp(page, MAX_PAGE) if page and page > 0 else 0,
        show_recurrent=None if show_recurrent is None else show_recurrent.strip().lower() == "true",
        show_multidate=True if show_multidate is None else show_multidate.strip().lower() == "true",
    )


def _clamp(value: float, bound: int) -> int:
    return max(-bound, min(bound, int(value)))


@dataclass(frozen=True)
class _ListingShape:
    """What decides the listing statement's structure; its values are bound parameters."""

    mode: str  # "window" (start/end), "older" or "query"
    has_end: bool
    has_tags: bool
    has_places: bool
    show_occurrences: bool
    show_multidate: bool
    has_limit: bool


def _shape_of(q: ListingQuery, settings: ListingSettings) -> _ListingShape:
    # Occurrences need allow_recurrent_event and show_recurrent (default recurrent_event_visible).
    wants_occurrences = settings.recurrent_event_visible if q.show_recurrent is None else q.show_recurrent
    return _ListingShape(
        mode="query" if q.query is not None else "older" if q.older else "window",
        has_end=q.end is not None,
        has_tags=bool(q.tags),
        has_places=bool(q.places),
        show_occurrences=settings.allow_recurrent_event and wants_occurrences,
        show_multidate=q.show_multidate and settings.allow_multidate_event,
        has_limit=q.limit is not None,
    )


def _listing_params(q: ListingQuery) -> dict[str, Any]:
    offset = q.page * q.limit if q.limit else 0
    params: dict[str, Any] = {"start": q.start, "end": q.end, "limit": q.limit, "offset": offset}
    params["upcoming_limit"] = offset + (q.limit or 0)
    params["tags"] = list(q.tags)
    params["places"] = list(q.places)
    if q.query is not None:
        params["needle"] = q.query.lower()
        params["folded"] = q.query.casefold()
    return params


def _indexed_filters(shape: _ListingShape) -> list[ColumnElement[bool]]:
    """The filters the listing's indexes serve as equalities on their leading columns."""
    conditions: list[ColumnElement[bool]] = [Event.is_visible.is_(True)]
    if not shape.show_occurrences:
        # Hidden occurrences (a tenth of a large agenda's upcoming rows) are then skipped inside
        # ix_events_visible_parent_start/_end instead of read and dropped on every page.
        conditions.append(Event.parent_id.is_(None))
    return conditions


def _listing_filters(shape: _ListingShape) -> list[ColumnElement[bool]]:
    """Everything but the date condition and _indexed_filters (§5.10)."""
    conditions: list[ColumnElement[bool]] = [Event.recurrent.is_(None)]
    if shape.mode != "query":
        conditions.append(Event.ap_user_ap_id.is_(None))
    if not shape.show_multidate:
        conditions.append(or_(Event.multidate.is_(None), Event.multidate.is_(False)))
    if shape.has_tags:
        tags: BindParameter[Any] = bindparam("tags", expanding=True)
        conditions.append(Event.id.in_(select(EventTag.event_id).where(EventTag.tag.in_(tags))))
    if shape.has_places:
        conditions.append(Event.place_id.in_(bindparam("places", expanding=True)))
    if shape.mode == "query":
        # Gancio lower-cases the column but not the query, so upper-case queries miss on PostgreSQL.
        needle = bindparam("needle", type_=String)
        pattern = literal("%") + needle + literal("%")
        conditions.append(
            or_(
                func.lower(Event.title).like(pattern),
                func.lower(Place.name).like(pattern),
                exists().where(
                    EventTag.event_id == Event.id,
                    EventTag.tag == Tag.tag,
                    Tag.folded == bindparam("folded", type_=String),
                ),
            )
        )
    return conditions


def _from_events(columns: Sequence[Any]) -> Select[Any]:
    return (
        select(*columns, Event.place_id, *PLACE_COLUMNS)
        .select_from(Event)
        .outerjoin(Place, Place.id == Event.place_id)
    )


@functools.lru_cache(maxsize=256)
def _listing_statement(shape: _ListingShape) -> Select[Any]:
    """The statement for one shape, built once: SQLAlchemy then reuses its compiled form."""
    indexed, conditions = _indexed_filters(shape), _listing_filters(shape)
    start, end = bindparam("start", type_=BigInteger), bindparam("end", type_=BigInteger)
    limit, offset = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)
    if shape.mode != "window":
        stmt = _from_events(LIST_COLUMNS).where(*indexed, *conditions)
        if shape.mode == "older":  # the comparisons flip, the order stays ascending (§5.10)
            stmt = stmt.where(Event.start_datetime <= start)
            if shape.has_end:
                stmt = stmt.where(Event.start_datetime >= end)
        stmt = stmt.order_by(Event.start_datetime, Event.id)
        return stmt.limit(limit).offset(offset) if shape.has_limit else stmt

    upcoming = _from_events(LIST_COLUMNS).where(*indexed, *conditions, Event.start_datetime >= start)
    # The ids of ongoing events come from ix_events_visible_(parent_)end alone (it carries the start),
    # so the scan over events ending after S never reads a table row; only the matches are fetched,
    # by id: the outer query leaves out the indexed filters, or the planner would rather walk that
    # index over every visible event than look up the few ids.
    ongoing_ids = select(Event.id).where(*indexed, Event.end_datetime >= start, Event.start_datetime < start)
    if shape.has_end:
        upcoming = upcoming.where(Event.start_datetime <= end)
        ongoing_ids = ongoing_ids.where(Event.start_datetime <= end)
    ongoing = _from_events(LIST_COLUMNS).where(*conditions, Event.id.in_(ongoing_ids))
    if shape.has_limit:
        upcoming_limit = bindparam("upcoming_limit", type_=Integer)
        upcoming = upcoming.order_by(Event.start_datetime, Event.id).limit(upcoming_limit)
    # MATERIALIZED keeps the planner from merging the branches by start order, which would make it
    # walk the ongoing branch along ix_events_visible_start through the whole past.
    ongoing_cte = ongoing.cte("ongoing").prefix_with("MATERIALIZED")
    both = sql_union_all(select(upcoming.subquery()), select(ongoing_cte)).subquery()
    stmt = select(both).order_by(both.c.start_datetime, both.c.id)
    return stmt.limit(limit).offset(offset) if shape.has_limit else stmt


def listing_statement(q: ListingQuery, settings: ListingSettings) -> tuple[Select[Any], dict[str, Any]]:
    """The listing's statement and its parameters."""
    return _listing_statement(_shape_of(q, settings)), _listing_params(q)


def _rows_to_wire(db: Session, rows: Sequence[Any], shape: Shape) -> list[dict[str, Any]]:
    tags = tags_of(db, [row["id"] for row in rows])
    return [event_to_wire(row, tags[row["id"]], shape) for row in rows]


def list_events_or_home_collection(
    db: Session, q: ListingQuery, settings: ListingSettings | None = None
) -> list[dict[str, Any]]:
    """`GET /api/events`: without tags, places or query, the `collection_in_home` collection's events
    (E-collection shape, `start` and `end` honoured, `max` as the limit) when one is set (§5.10)."""
    settings = settings or read_listing_settings(db)
    if settings.collection_in_home and not (q.tags or q.places or q.query):
        from piazza.instance.collection_events import collection_events  # instance builds on events

        return collection_events(
            db, str(settings.collection_in_home), start_at=q.start, end=q.end, max=q.limit
        )
    return list_events(db, q, settings)


def list_events(
    db: Session, q: ListingQuery, settings: ListingSettings | None = None
) -> list[dict[str, Any]]:
    """The listing itself: the settings (unless given), the events, their tags; however many events."""
    stmt, params = listing_statement(q, settings or read_listing_settings(db))
    rows = db.connection().execute(stmt, params).mappings().all()
    return _rows_to_wire(db, rows, Shape.LIST)


# Big answers are written in batches of this many events (piazza.events.exports): what a worker holds
# while it writes one stays the same whatever the agenda's size.
EXPORT_BATCH = 1000


def partitions(
    db: Session, stmt: Select[Any], params: Mapping[str, Any] | None = None
) -> Iterator[Sequence[Any]]:
    """The row mappings of `stmt` in batches, fetched as they are consumed (a server-side cursor on
    PostgreSQL), rather than all at once."""
    result = db.connection().execution_options(yield_per=EXPORT_BATCH).execute(stmt, dict(params or {}))
    with result:  # closes the cursor also when the reader stops early (an RSS feed's first events)
        yield from result.mappings().partitions()


def iter_events_or_home_collection(
    db: Session, q: ListingQuery, settings: ListingSettings
) -> Iterator[list[dict[str, Any]]]:
    """`list_events_or_home_collection` in batches."""
    if settings.collection_in_home and not (q.tags or q.places or q.query):
        from piazza.instance import collection_events as home  # instance builds on events

        query = home.CollectionQuery(start_at=q.start, end=q.end, max=q.limit)
        try:
            return home.iter_collection_events(db, str(settings.collection_in_home), query)
        except NotFound:
            return iter(())
    return iter_listing(db, q, settings)


def iter_listing(db: Session, q: ListingQuery, settings: ListingSettings) -> Iterator[list[dict[str, Any]]]:
    """`list_events` in batches of E-list events."""
    stmt, params = listing_statement(q, settings)
    for rows in partitions(db, stmt, params):
        yield _rows_to_wire(db, rows, Shape.LIST)


def upcoming_with(
    db: Session, *, now: int, tags: Sequence[str] = (), place_id: int | None = None
) -> list[dict[str, Any]]:
    """Events of a tag or place page: visible, upcoming or ongoing, local, occurrences included."""
    conditions = [
        Event.is_visible.is_(True),
        Event.recurrent.is_(None),
        Event.ap_user_ap_id.is_(None),
        or_(Event.start_datetime >= now, Event.end_datetime >= now),
    ]
    if tags:
        conditions.append(Event.id.in_(select(EventTag.event_id).where(EventTag.tag.in_(tags))))
    if place_id is not None:
        conditions.append(Event.place_id == place_id)
    rows = (
        db.execute(_from_events(LIST_COLUMNS).where(*conditions).order_by(Event.start_datetime, Event.id))
        .mappings()
        .all()
    )
    return _rows_to_wire(db, rows, Shape.LIST)


# --- detail -------------------------------------------------------------------------------------------


# Built once: the detail is read often, and building these selects cost more than running them.
_DETAIL = (
    _from_events(EVENT_COLUMNS)
    .add_columns(User.is_active.label("author_active"))
    .outerjoin(User, User.id == Event.user_id)
)
_DETAIL_BY_SLUG = _DETAIL.where(Event.slug == bindparam("slug", type_=String))
_DETAIL_BY_ID = _DETAIL.where(Event.id == bindparam("id", type_=Integer))
_PARENT = select(Event.id, Event.recurrent, Event.is_visible, Event.start_datetime).where(
    Event.id == bindparam("id", type_=Integer)
)


def _neighbour_statement(after: bool) -> Select[str | None, int, int]:
    """The nearest local non-parent event with the given visibility after (or before) (start, id).

    The start is a plain range (`>=`/`<=`) and the tie on it is broken by id in a separate condition,
    so ix_events_visible_start serves the range and the walk stops at the first match. Written as
    `start > S OR (start = S AND id > I)`, SQLite scanned the index from its first entry instead: a
    cost that grew with the table (16 ms a detail at 100,000 events).
    """
    start, event_id = bindparam("start", type_=BigInteger), bindparam("id", type_=Integer)
    conditions = [
        Event.is_visible == bindparam("visible", type_=Boolean),
        Event.recurrent.is_(None),
        Event.ap_user_ap_id.is_(None),
    ]
    order: tuple[SQLColumnExpression[int], SQLColumnExpression[int]]
    if after:
        conditions += [Event.start_datetime >= start, or_(Event.start_datetime > start, Event.id > event_id)]
        order = (Event.start_datetime, Event.id)
    else:
        conditions += [Event.start_datetime <= start, or_(Event.start_datetime < start, Event.id < event_id)]
        order = (Event.start_datetime.desc(), Event.id.desc())
    return select(Event.slug, Event.id, Event.start_datetime).where(*conditions).order_by(*order).limit(1)


NEXT_STATEMENT = _neighbour_statement(after=True)
PREV_STATEMENT = _neighbour_statement(after=False)


def get_event_detail(
    db: Session, slug_or_id: str, *, user_id: int | None, is_moderator: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`GET /api/event/detail/:x` as (E-detail, E-export-like row for ICS). Raises NotFound.

    Hidden events are visible only to their author and to moderators (Gancio: moderators only).
    """
    conn = db.connection()  # plain Core executions, as for the listing
    row = _detail_row(conn, slug_or_id)
    if row is None:
        raise NotFound()
    is_author = user_id is not None and row["user_id"] == user_id
    if not row["is_visible"] and not (is_moderator or is_author):
        raise NotFound()
    event_id = row["id"]
    tags = tags_of(db, [event_id])[event_id]
    wire = event_to_wire(row, tags, Shape.DETAIL)
    wire["resources"] = []
    parent = None
    if row["parent_id"] is not None:
        parent_row = conn.execute(_PARENT, {"id": row["parent_id"]}).mappings().first()
        parent = dict(parent_row) if parent_row is not None else None
    wire["parent"] = parent
    wire["isMine"] = is_author
    wire["isAnon"] = row["user_id"] is None or not row["author_active"]
    wire["next"], wire["prev"] = _neighbours(db, row, show_hidden=is_moderator)
    wire["plain_description"] = _plain_text(row["description"])
    return wire, feed_event(row, tags)


def is_id_segment(slug_or_id: str) -> bool:
    """An all-digit (ASCII) path segment names an id, never a slug: no slug is all digits (slugs.py)."""
    return slug_or_id.isascii() and slug_or_id.isdigit()


def _detail_row(conn: Any, slug_or_id: str) -> Any:
    """The event an `/event/<x>` segment names: by id when it is all digits, else by slug. Gancio looks
    up `slug = x OR id = x`, so an event titled "4" (slug `4`) shadowed event 4; here one segment can
    only mean one row."""
    if is_id_segment(slug_or_id):
        event_id = parse_id(slug_or_id)
        if event_id is None:
            return None
        return conn.execute(_DETAIL_BY_ID, {"id": event_id}).mappings().first()
    return conn.execute(_DETAIL_BY_SLUG, {"slug": slug_or_id}).mappings().first()


def _neighbours(db: Session, row: Any, *, show_hidden: bool) -> tuple[Any, Any]:
    """Slugs (or ids) of the events just after and before this one by (start, id) (§2.3.9).

    Moderators also see hidden events: one index walk per visibility, the nearer event wins.
    """
    conn = db.connection()
    params = {"start": row["start_datetime"], "id": row["id"]}
    visibilities = (True, False) if show_hidden else (True,)

    def nearest(stmt: Select[str | None, int, int], pick: Any) -> Any:
        found = [conn.execute(stmt, {**params, "visible": v}).first() for v in visibilities]
        candidates = [r for r in found if r is not None]
        if not candidates:
            return None
        best = pick(candidates, key=lambda r: (r.start_datetime, r.id))
        return best.slug or best.id

    return nearest(NEXT_STATEMENT, min), nearest(PREV_STATEMENT, max)


# --- mine, unconfirmed, meta --------------------------------------------------------------------------


def list_mine(db: Session, user_id: int, *, now: int) -> list[dict[str, Any]]:
    """`GET /api/events/mine`: own local events that are upcoming, ongoing or recurrent parents."""
    rows = (
        db.execute(
            _from_events(EVENT_COLUMNS)
            .where(
                Event.user_id == user_id,
                Event.ap_user_ap_id.is_(None),
                or_(Event.start_datetime >= now, Event.end_datetime >= now, Event.recurrent.is_not(None)),
            )
            .order_by(Event.start_datetime.desc(), Event.id.desc())
        )
        .mappings()
        .all()
    )
    return _rows_to_wire(db, rows, Shape.MINE)


def list_unconfirmed(db: Session, *, now: int) -> list[dict[str, Any]]:
    """`GET /api/event/unconfirmed`: future hidden events that are not occurrences, soonest first."""
    rows = (
        db.execute(
            _from_events(EVENT_COLUMNS)
            .where(Event.parent_id.is_(None), Event.is_visible.is_(False), Event.start_datetime > now)
            .order_by(Event.start_datetime, Event.id)
        )
        .mappings()
        .all()
    )
    return _rows_to_wire(db, rows, Shape.UNCONFIRMED)


def event_meta(db: Session, search: str | None, limit: int = 10) -> list[dict[str, Any]]:
    """`GET /api/event/meta?search=`: places and tags with visible events matching `search`, by weight."""
    needle = (search or "").lower()
    w = func.count(Event.id).label("w")
    place_query = (
        select(Place.id, Place.name, Place.address, Place.latitude, Place.longitude, w)
        .join(Event, Event.place_id == Place.id)
        .where(Event.is_visible.is_(True), Place.pending.is_(False))
        .group_by(Place.id)
        .order_by(w.desc(), Place.id)
        .limit(limit)
    )
    tag_query = (
        select(EventTag.tag, w)
        .join(Event, Event.id == EventTag.event_id)
        .where(Event.is_visible.is_(True))
        .group_by(EventTag.tag)
        .order_by(w.desc(), EventTag.tag)
        .limit(limit)
    )
    if needle:
        place_query = place_query.where(
            or_(
                func.lower(Place.name).contains(needle, autoescape=True),
                func.lower(Place.address).contains(needle, autoescape=True),
            )
        )
        tag_query = tag_query.where(func.lower(EventTag.tag).contains(needle, autoescape=True))
    items: list[dict[str, Any]] = [
        {
            "label": p.name,
            "address": p.address,
            "latitude": p.latitude,
            "longitude": p.longitude,
            "id": p.id,
            "w": p.w,
            "type": "place",
        }
        for p in db.execute(place_query)
    ]
    items += [{"label": t.tag, "w": t.w, "type": "tag"} for t in db.execute(tag_query)]
    items.sort(key=lambda item: -item["w"])
    return items[:limit]


def place_with_events(db: Session, name_or_id: str, *, now: int) -> dict[str, Any]:
    """`GET /api/place/:x`: `{events, place}`. Raises NotFound."""
    place = find_place(db, name_or_id)
    return {"events": upcoming_with(db, now=now, place_id=place.id), "place": place_row_to_wire(place)}


def events_of_tags(db: Session, tag_param: str, *, now: int) -> list[dict[str, Any]]:
    """`GET /api/tag/:tag` (comma separated). Raises NotFound when none of the tags exists."""
    tags = [t.strip() for t in tag_param.split(",") if t.strip()]
    if not tags or db.scalar(select(func.count()).select_from(Tag).where(Tag.tag.in_(tags))) == 0:
        raise NotFound()
    return upcoming_with(db, now=now, tags=tags)


# --- feeds --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedQuery:
    tags: tuple[str, ...] = ()
    places: tuple[int, ...] = ()
    show_recurrent: bool = False
    limit: int | None = None


# What feed_event reads (Shape.EXPORT): the likes, boosts, rule and author are left out, since each
# JSON column is decoded for every row.
FEED_COLUMNS = (
    Event.id,
    Event.title,
    Event.slug,
    Event.description,
    Event.multidate,
    Event.start_datetime,
    Event.end_datetime,
    Event.image_path,
    Event.media,
    Event.online_locations,
    Event.ap_object,
    Event.ap_id,
    Event.updated_at,
    Event.ap_user_ap_id,
    Event.parent_id,
)


@functools.lru_cache(maxsize=16)
def feed_statement(show_recurrent: bool, has_tags: bool, has_places: bool, has_limit: bool) -> Select[Any]:
    """The /feed statement for one shape, built once (as `_listing_statement`).

    Without occurrences, `is_visible`, `parent_id IS NULL` and the start range are one range of
    ix_events_visible_parent_start, already in (start, id) order: the rows come straight off the index.
    """
    conditions = [
        Event.is_visible.is_(True),
        Event.recurrent.is_(None),
        Event.ap_user_ap_id.is_(None),
        Event.start_datetime >= bindparam("since", type_=BigInteger),
    ]
    if not show_recurrent:
        conditions.append(Event.parent_id.is_(None))
    if has_tags:
        tagged = select(EventTag.event_id).where(EventTag.tag.in_(bindparam("tags", expanding=True)))
        conditions.append(Event.id.in_(tagged))
    if has_places:
        conditions.append(Event.place_id.in_(bindparam("places", expanding=True)))
    stmt = _from_events(FEED_COLUMNS).where(*conditions).order_by(Event.start_datetime, Event.id)
    return stmt.limit(bindparam("limit", type_=Integer)) if has_limit else stmt


def feed_events(db: Session, q: FeedQuery, *, now: int) -> list[dict[str, Any]]:
    """Events for /feed and /api/export (§5.11), in E-export shape plus what the renderers need.

    Visible, local, not parents, starting at most 24 hours ago, by start; occurrences only with
    `show_recurrent` (any non-empty value, as Gancio reads it).
    """
    stmt = feed_statement(q.show_recurrent, bool(q.tags), bool(q.places), bool(q.limit))
    return _export_rows(db, db.connection().execute(stmt, _feed_params(q, now)).mappings().all())


def iter_feed_events(db: Session, q: FeedQuery, *, now: int) -> Iterator[list[dict[str, Any]]]:
    """`feed_events` in batches."""
    stmt = feed_statement(q.show_recurrent, bool(q.tags), bool(q.places), bool(q.limit))
    for rows in partitions(db, stmt, _feed_params(q, now)):
        yield _export_rows(db, rows)


def _feed_params(q: FeedQuery, now: int) -> dict[str, Any]:
    return {
        "since": now - FEED_LOOKBACK_SECONDS,
        "tags": list(q.tags),
        "places": list(q.places),
        "limit": q.limit,
    }


def feed_events_of(
    db: Session, *, now: int, tags: Sequence[str] = (), place_id: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Tag and place feeds: upcoming and ongoing events, occurrences and multidate included."""
    stmt = _feed_of_statement(now=now, tags=tags, place_id=place_id, limit=limit)
    return _export_rows(db, db.connection().execute(stmt).mappings().all())


def iter_feed_events_of(
    db: Session, *, now: int, tags: Sequence[str] = (), place_id: int | None = None, limit: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """`feed_events_of` in batches."""
    for rows in partitions(db, _feed_of_statement(now=now, tags=tags, place_id=place_id, limit=limit)):
        yield _export_rows(db, rows)


def _feed_of_statement(
    *, now: int, tags: Sequence[str], place_id: int | None, limit: int | None
) -> Select[Any]:
    conditions = [
        Event.is_visible.is_(True),
        Event.recurrent.is_(None),
        Event.ap_user_ap_id.is_(None),
        or_(Event.start_datetime >= now, Event.end_datetime >= now),
        Event.id.in_(select(EventTag.event_id).where(EventTag.tag.in_(tags))) if tags else true(),
        Event.place_id == place_id if place_id is not None else true(),
    ]
    stmt = _from_events(FEED_COLUMNS).where(*conditions).order_by(Event.start_datetime, Event.id)
    return stmt.limit(limit) if limit else stmt


def _export_rows(db: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Events for the feed renderers; `export_to_wire` turns one into Gancio's E-export JSON."""
    tags = tags_of(db, [row["id"] for row in rows])
    return [feed_event(row, tags[row["id"]]) for row in rows]


def feed_event(row: Any, tags: list[str]) -> dict[str, Any]:
    """E-export keys, with tags as strings, the place with coordinates, `updatedAt` as a datetime and
    `plain_description`: what `feeds.render_rss` and `feeds.render_ics` read.

    The keys of `event_to_wire(row, tags, Shape.EXPORT)` in its order, so that `export_to_wire` gives
    exactly that (a test compares them); written out rather than derived from it, because the ISO date
    and tag objects it builds would be thrown away for every event of every feed.
    """
    return {
        "id": row["id"],
        "title": row["title"],
        "slug": row["slug"],
        "description": row["description"],
        "multidate": bool(row["multidate"]),
        "start_datetime": row["start_datetime"],
        "end_datetime": row["end_datetime"],
        "image_path": row["image_path"],
        "media": row["media"] or [],
        "online_locations": row["online_locations"] or [],
        "ap_object": row["ap_object"],
        "ap_id": row["ap_id"],
        "updatedAt": row["updated_at"],
        "apUserApId": row["ap_user_ap_id"],
        "parentId": row["parent_id"],
        "tags": list(tags),
        "place": place_to_wire(row),
        "plain_description": _plain_text(row["description"]),
    }


# Feeds render the same upcoming events on every build, and turning their HTML into text was half of
# a feed's cost (docs, "Benchmarks"). The text depends only on the HTML, so it is remembered by it,
# for as many events as fit in a few megabytes per process (an agenda of 20,000 short descriptions).
PLAIN_TEXT_MEMO_CHARS = 8_000_000
_plain_texts: TextMemo[str, str] = TextMemo(html_to_text, max_chars=PLAIN_TEXT_MEMO_CHARS)


def _plain_text(html: str | None) -> str:
    if not html:
        return html_to_text(html)
    return _plain_texts.get(html, 2 * len(html))


def export_to_wire(event: dict[str, Any]) -> dict[str, Any]:
    """E-export (§2.3.9) from a feed event: tags as `{tag}` objects, place as `{name, id, address}`."""
    wire = {key: value for key, value in event.items() if key != "plain_description"}
    wire["tags"] = [{"tag": tag} for tag in event["tags"]]
    place = event["place"]
    wire["place"] = (
        None if place is None else {"name": place["name"], "id": place["id"], "address": place["address"]}
    )
    wire["updatedAt"] = iso(event["updatedAt"])
    return wire


def check_feeds_place(db: Session, name_or_id: str) -> dict[str, Any]:
    return place_row_to_wire(find_place(db, name_or_id))


def instance_timezone(db: Session) -> str:
    return get_setting(db, "instance_timezone") or "Europe/Rome"
