"""Collections and their filters (gancio-api.md §2.7, §4.5): the admin side. The events a collection
selects are in `collection_events.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from piazza.db.base import MAX_ROW_ID
from piazza.errors import Invalid, NotFound
from piazza.instance.models import Collection, Filter

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
        if isinstance(place_id, bool) or not isinstance(place_id, int) or not 0 < place_id <= MAX_ROW_ID:
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
    if collection_id > MAX_ROW_ID or db.get(Collection, collection_id) is None:
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
