"""Places: resolution on event writes (gancio-api.md §5.4) and the place routes' queries (§2.5)."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from piazza.db.base import inserted_id
from piazza.errors import Invalid, NotFound
from piazza.events.models import Event, Place
from piazza.events.schemas import is_truthy, parse_id, parse_number
from piazza.events.wire import iso

PLACE_NOT_FOUND = "Place not found"
PLACE_REQUIRED = "place_id or place_name and place_address are required"
MAX_PLACE_TEXT = 255
ONLINE = "online"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Invalid(PLACE_REQUIRED)
    return value.strip()


class PlaceRef(NamedTuple):
    """What an event write needs of its place."""

    id: int
    name: str
    address: str
    latitude: float | None
    longitude: float | None


# Built once and run on the connection: plain Core, without the ORM session's machinery (these run on
# every POST /api/event). The lowest id wins where a name is shared. A pending place (made by an
# anonymous submission not confirmed yet) is found only by the event it was made for (`own`): otherwise a
# submission that is then rejected could plant a place, with its address, for later events to adopt.
_PLACE = select(Place.id, Place.name, Place.address, Place.latitude, Place.longitude)
_PlaceSelect = Select[int, str, str, float | None, float | None]
_USABLE = or_(Place.pending.is_(False), Place.id == bindparam("own"))
_BY_ID = _PLACE.where(Place.id == bindparam("value"), _USABLE)
_BY_AP_ID = _PLACE.where(Place.ap_id == bindparam("value"), _USABLE).order_by(Place.id).limit(1)
_BY_NAME = _PLACE.where(func.lower(Place.name) == bindparam("value"), _USABLE).order_by(Place.id).limit(1)
_PUBLISH = (
    update(Place).where(Place.id == bindparam("place_id"), Place.pending.is_(True)).values(pending=False)
)
_DROP_PENDING = delete(Place).where(
    Place.id == bindparam("place_id"),
    Place.pending.is_(True),
    ~exists().where(Event.place_id == Place.id),
)


def _first_place(db: Session, query: _PlaceSelect, value: Any, own: int | None) -> PlaceRef | None:
    row = db.connection().execute(query, {"value": value, "own": own}).first()
    return None if row is None else PlaceRef(*row)


def resolve_place(
    db: Session, data: dict[str, Any], *, anonymous: bool = False, own_place_id: int | None = None
) -> PlaceRef:
    """The event's place: by id, by ap_id, by case-insensitive name, or a new one. Raises Invalid.

    Pending places are left out, except `own_place_id` (the place of the event being updated). A place
    an anonymous visitor makes is pending until its event is confirmed (`publish_place`).
    """
    own = own_place_id
    if is_truthy(data.get("place_id")):
        place_id = parse_id(data["place_id"])
        place = _first_place(db, _BY_ID, place_id, own) if place_id is not None else None
        if place is None:
            raise Invalid(PLACE_NOT_FOUND, field="place_id")
        return place
    ap_id = data.get("place_ap_id")
    if isinstance(ap_id, str) and ap_id:
        place = _first_place(db, _BY_AP_ID, ap_id, own)
        if place is not None:
            return place
    name = _text(data.get("place_name"))
    address = _text(data.get("place_address"))
    if not name or (not address and name.lower() != ONLINE):
        raise Invalid(PLACE_REQUIRED, field="place_name")
    if len(name) > MAX_PLACE_TEXT or len(address) > MAX_PLACE_TEXT:
        raise Invalid(f"place_name and place_address are at most {MAX_PLACE_TEXT} characters")
    existing = _first_place(db, _BY_NAME, name.lower(), own)
    if existing is not None:
        return existing
    lat: float | None = None
    lon: float | None = None
    latitude, longitude = data.get("place_latitude"), data.get("place_longitude")
    if is_truthy(latitude) and is_truthy(longitude):
        lat, lon = parse_number(latitude), parse_number(longitude)
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Invalid("place_latitude and place_longitude must be coordinates")
    values = {
        "name": name,
        "address": address,
        "ap_id": ap_id if isinstance(ap_id, str) and ap_id else None,
        "latitude": lat,
        "longitude": lon,
        "pending": anonymous,
    }
    place_id = inserted_id(db.connection().execute(insert(Place), values))
    return PlaceRef(place_id, name, address, lat, lon)


def publish_place(db: Session, place_id: int | None) -> None:
    """The event of a pending place was confirmed: the place is an ordinary one from now on."""
    if place_id is not None:
        db.connection().execute(_PUBLISH, {"place_id": place_id})


def drop_pending_place(db: Session, place_id: int | None) -> None:
    """Delete a pending place that no event uses any more (its submission was rejected or moved)."""
    if place_id is not None:
        db.connection().execute(_DROP_PENDING, {"place_id": place_id})


def place_row_to_wire(place: Place) -> dict[str, Any]:
    return {
        "id": place.id,
        "name": place.name,
        "address": place.address,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "ap_id": place.ap_id,
        "createdAt": iso(place.created_at),
        "updatedAt": iso(place.updated_at),
    }


def find_place(db: Session, name_or_id: str) -> Place:
    """By exact name or numeric id (`GET /api/place/:x`), never a pending one. Raises NotFound."""
    conditions = [Place.name == name_or_id]
    place_id = parse_id(name_or_id)
    if place_id is not None:
        conditions.append(Place.id == place_id)
    place = db.scalars(
        select(Place).where(or_(*conditions), Place.pending.is_(False)).order_by(Place.id).limit(1)
    ).first()
    if place is None:
        raise NotFound()
    return place


def _visible_count() -> Select[Place, int]:
    count = func.count(Event.id).label("w")
    return (
        select(Place, count)
        .join(Event, Event.place_id == Place.id)
        .where(Event.is_visible.is_(True), Place.pending.is_(False))
        .group_by(Place.id)
        .order_by(count.desc(), Place.id)
    )


def search_places(db: Session, search: str | None, limit: int = 10) -> list[dict[str, Any]]:
    """`GET /api/place?search=`: places with visible events whose name or address contains it."""
    query = _visible_count().limit(limit)
    if search:
        needle = search.lower()
        query = query.where(
            or_(
                func.lower(Place.name).contains(needle, autoescape=True),
                func.lower(Place.address).contains(needle, autoescape=True),
            )
        )
    return [
        {
            "name": p.name,
            "address": p.address,
            "latitude": p.latitude,
            "longitude": p.longitude,
            "id": p.id,
        }
        for p, _count in db.execute(query)
    ]


def list_places(db: Session) -> list[dict[str, Any]]:
    """`GET /api/places` (admin): full rows of places with visible events, most used first."""
    return [place_row_to_wire(p) for p, _count in db.execute(_visible_count())]


def update_place(db: Session, data: dict[str, Any]) -> dict[str, Any]:
    """`PUT /api/place` (admin): set name, address, latitude, longitude. Raises NotFound, Invalid."""
    place_id = parse_id(data.get("id"))
    place = db.get(Place, place_id) if place_id is not None else None
    if place is None:
        raise NotFound()
    if "name" in data:
        name = _text(data["name"])
        if not name or len(name) > MAX_PLACE_TEXT:
            raise Invalid("name required")
        place.name = name
    if "address" in data:
        address = _text(data["address"])
        if len(address) > MAX_PLACE_TEXT:
            raise Invalid(f"address is at most {MAX_PLACE_TEXT} characters")
        place.address = address
    for key in ("latitude", "longitude"):
        if key in data:
            value = data[key]
            number = None if value in (None, "") else parse_number(value)
            if value not in (None, "") and number is None:
                raise Invalid(f"{key} must be a number")
            setattr(place, key, number)
    db.flush()
    return place_row_to_wire(place)
