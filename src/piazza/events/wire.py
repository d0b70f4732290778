"""Gancio's event JSON shapes (gancio-api.md §2.3.9), built from one row mapping by `event_to_wire`.

Rows are `RowMapping`s or dicts with the columns named in `EVENT_COLUMNS`/`PLACE_COLUMNS` below (as
selected by `queries.py`), so the hot listing never builds ORM objects.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from piazza.events.models import Event, Place

if TYPE_CHECKING:
    from sqlalchemy import RowMapping

    from piazza.events.places import PlaceRef


class Shape(Enum):
    LIST = "list"  # /api/events, /api/place/:x events, /api/tag/:tag
    FULL = "full"  # POST and PUT /api/event (E-created / E-full+)
    DETAIL = "detail"  # /api/event/detail/:slug (plus the keys added by the detail query)
    MINE = "mine"  # /api/events/mine
    EXPORT = "export"  # /feed/json, /api/export/json
    UNCONFIRMED = "unconfirmed"  # /api/event/unconfirmed


EVENT_COLUMNS = (
    Event.id,
    Event.title,
    Event.slug,
    Event.description,
    Event.multidate,
    Event.start_datetime,
    Event.end_datetime,
    Event.image_path,
    Event.media,
    Event.is_visible,
    Event.recurrent,
    Event.likes,
    Event.boost,
    Event.online_locations,
    Event.ap_object,
    Event.ap_id,
    Event.created_at,
    Event.updated_at,
    Event.place_id,
    Event.user_id,
    Event.ap_user_ap_id,
    Event.parent_id,
)
LIST_COLUMNS = (
    Event.id,
    Event.title,
    Event.slug,
    Event.multidate,
    Event.start_datetime,
    Event.end_datetime,
    Event.media,
    Event.online_locations,
    Event.updated_at,
    Event.ap_user_ap_id,
    Event.parent_id,
)
PLACE_COLUMNS = (
    Place.name.label("place_name"),
    Place.address.label("place_address"),
    Place.latitude.label("place_latitude"),
    Place.longitude.label("place_longitude"),
)


# Cached: formatting took 2 µs, and a listing page writes the same fifty `updatedAt` on every request.
# Equal aware datetimes are the same instant, so they share one text.
@functools.lru_cache(maxsize=4096)
def iso(value: datetime | None) -> str | None:
    """Sequelize's timestamp format: `2026-11-27T18:09:41.035Z`."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is C and strftime is slow; its first 23 characters are `YYYY-MM-DDTHH:MM:SS.mmm`.
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def place_to_wire(row: Mapping[str, Any] | RowMapping) -> dict[str, Any] | None:
    if row.get("place_id") is None:
        return None
    return {
        "id": row["place_id"],
        "name": row["place_name"],
        "address": row["place_address"],
        "latitude": row["place_latitude"],
        "longitude": row["place_longitude"],
    }


def event_to_wire(row: Mapping[str, Any] | RowMapping, tags: Sequence[str], shape: Shape) -> dict[str, Any]:
    """One event in the given Gancio shape; `row` carries event columns plus `place_*` columns."""
    place = place_to_wire(row)
    if shape is Shape.LIST:
        wire: dict[str, Any] = {
            "id": row["id"],
            "title": row["title"],
            "slug": row["slug"],
            "start_datetime": row["start_datetime"],
            "end_datetime": row["end_datetime"],
            "media": row["media"] or [],
            "online_locations": row["online_locations"] or [],
            "updatedAt": iso(row["updated_at"]),
            "apUserApId": row["ap_user_ap_id"],
            "parentId": row["parent_id"],
            "tags": list(tags),
            "place": place,
        }
        if row["multidate"]:  # E-list carries multidate only when true
            wire["multidate"] = True
        return wire
    if shape is Shape.MINE:
        return {
            "id": row["id"],
            "title": row["title"],
            "slug": row["slug"],
            "multidate": bool(row["multidate"]),
            "start_datetime": row["start_datetime"],
            "end_datetime": row["end_datetime"],
            "media": row["media"] or [],
            "is_visible": row["is_visible"],
            "recurrent": row["recurrent"],
            "online_locations": row["online_locations"] or [],
            "ap_object": row["ap_object"],
            "ap_id": row["ap_id"],
            "updatedAt": iso(row["updated_at"]),
            "apUserApId": row["ap_user_ap_id"],
            "parentId": row["parent_id"],
            "tags": list(tags),
            "place": place,
        }
    if shape is Shape.DETAIL:
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
            "is_visible": row["is_visible"],
            "recurrent": row["recurrent"],
            "likes": row["likes"] or [],
            "boost": row["boost"] or [],
            "online_locations": row["online_locations"] or [],
            "parentId": row["parent_id"],
            "tags": list(tags),
            "place": place,
        }
    if shape is Shape.EXPORT:
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
            "updatedAt": iso(row["updated_at"]),
            "apUserApId": row["ap_user_ap_id"],
            "parentId": row["parent_id"],
            "tags": [{"tag": tag} for tag in tags],
            "place": None
            if place is None
            else {"name": place["name"], "id": place["id"], "address": place["address"]},
        }
    # FULL and UNCONFIRMED: every column under Gancio's names.
    wire = {
        "id": row["id"],
        "title": row["title"],
        "slug": row["slug"],
        "description": row["description"],
        "multidate": bool(row["multidate"]),
        "start_datetime": row["start_datetime"],
        "end_datetime": row["end_datetime"],
        "image_path": row["image_path"],
        "media": row["media"] or [],
        "is_visible": row["is_visible"],
        "recurrent": row["recurrent"],
        "likes": row["likes"] or [],
        "boost": row["boost"] or [],
        "online_locations": row["online_locations"] or [],
        "ap_object": row["ap_object"],
        "ap_id": row["ap_id"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "placeId": row["place_id"],
        "userId": row["user_id"],
        "apUserApId": row["ap_user_ap_id"],
        "parentId": row["parent_id"],
        "place": place,
    }
    wire["tags"] = [{"tag": tag} for tag in tags] if shape is Shape.UNCONFIRMED else list(tags)
    return wire


def event_row(event: Event, place: Place | PlaceRef | None) -> dict[str, Any]:
    """The row mapping `event_to_wire` expects, from ORM objects (write paths)."""
    row = {column.key: getattr(event, column.key) for column in EVENT_COLUMNS}
    row.update(place_columns(place))
    return row


def place_columns(place: Place | PlaceRef | None) -> dict[str, Any]:
    """The `place_*` keys of a row mapping, from the event's place."""
    return {
        "place_id": place.id if place else None,
        "place_name": place.name if place else None,
        "place_address": place.address if place else None,
        "place_latitude": place.latitude if place else None,
        "place_longitude": place.longitude if place else None,
    }
