"""Event writes: create, update, delete, confirm and unconfirm (gancio-api.md §5.1-5.7).

Validation follows Gancio's order and wording, but every check runs before anything is written, and
each call is one transaction: where Gancio saves an event and then rejects its tags (§5.1 step 12) or
saves fields and then rejects the place (§5.3 step 6), nothing is saved here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert
from sqlalchemy.orm import Session

from piazza import json_input
from piazza.accounts.models import User
from piazza.db.base import inserted_id, utcnow
from piazza.errors import Forbidden, Invalid, NotFound
from piazza.events import occurrences
from piazza.events.images import ProcessedImage, delete_image_files, media_item, parse_focalpoint, save_image
from piazza.events.models import Event
from piazza.events.places import drop_pending_place, publish_place, resolve_place
from piazza.events.sanitize import sanitize_description
from piazza.events.schemas import is_truthy, parse_bool, parse_id, parse_number
from piazza.events.slugs import unique_slug
from piazza.events.tags import add_event_tags, normalize_tags, set_event_tags, validate_tag_list
from piazza.events.wire import Shape, event_row, event_to_wire, place_columns
from piazza.instance.settings import get_setting

# 1000 × 365 days in seconds (about the year 2969): Gancio's upper bound for an event's times (§5.1
# step 5). Listing parameters have their own, wider bound (queries.MAX_QUERY_TIMESTAMP).
MAX_EVENT_TIMESTAMP = 31_536_000_000
# The same span before 1970 (about the year 970): Gancio has no lower bound, and a start in the year 1
# is the year 0 in a zone behind UTC, which no datetime can hold (every page showing it was a 500).
MIN_EVENT_TIMESTAMP = -MAX_EVENT_TIMESTAMP
MAX_TITLE_LENGTH = 1000
MAX_DESCRIPTION_LENGTH = 100_000
MAX_ONLINE_LOCATIONS = 20
ONLINE_LOCATION_NOT_WEB = "online_locations must be absolute http or https URLs"
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")

HIDDEN_BY_MODERATOR = "A moderator hid this event: only a moderator can publish it again"

_INSERT_EVENT = insert(Event)
# Columns a created event leaves NULL (federation, the legacy image path) and no parent.
_UNSET_COLUMNS = dict.fromkeys(("image_path", "ap_object", "ap_id", "ap_user_ap_id", "parent_id"))


@dataclass(frozen=True)
class Actor:
    """Who writes: a user (with their role) or an anonymous visitor."""

    user_id: int | None
    is_moderator: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


@dataclass
class WriteResult:
    event: dict[str, Any]
    # Image files the write made obsolete; the caller deletes them once the transaction committed.
    obsolete_media: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventWriteContext:
    media_dir: Path
    now: int | None = None
    # Descriptions already sanitized, by their raw HTML: see sanitized_in_advance.
    sanitized: Mapping[str, str] = field(default_factory=dict)

    def current_time(self) -> int:
        return self.now if self.now is not None else int(time.time())


def sanitized_in_advance(data: Mapping[str, Any]) -> dict[str, str]:
    """The body's description, sanitized before the write transaction: nh3 is a good part of a write's
    time, and every writer waits while one holds the write lock. Its checks (and errors, in their
    order) stay in the transaction's `_description`."""
    value = data.get("description")
    if isinstance(value, str) and value and len(value) <= MAX_DESCRIPTION_LENGTH:
        return {value: sanitize_description(value)}
    return {}


# --- field parsing ------------------------------------------------------------------------------------


def _parse_recurrent(value: Any) -> dict[str, Any] | None:
    """§5.1 step 3: a JSON string (Gancio) or an object (JSON bodies); validated by recurrence rules."""
    if not is_truthy(value):
        return None
    if isinstance(value, str):
        try:
            value = json_input.loads(value)
        except ValueError:
            raise Invalid("Bad Request", field="recurrent") from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("Bad Request", field="recurrent")
    return occurrences.validate_rule(value)


def _check_not_too_early(start: float, end: float | None) -> None:
    if start < MIN_EVENT_TIMESTAMP:
        raise Invalid("start_datetime is too much in the past", field="start_datetime")
    if end is not None and end < MIN_EVENT_TIMESTAMP:
        raise Invalid("end_datetime is too much in the past", field="end_datetime")


def _title(value: Any) -> str:
    if not is_truthy(value):
        raise Invalid("title required", field="title")
    if not isinstance(value, str):
        raise Invalid("title must be a string", field="title")
    title = value.strip()
    if not title:
        raise Invalid("title required", field="title")
    if len(title) > MAX_TITLE_LENGTH:
        raise Invalid(f"title is at most {MAX_TITLE_LENGTH} characters", field="title")
    return title


def _description(value: Any, sanitized: Mapping[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("description must be a string", field="description")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise Invalid(f"description is at most {MAX_DESCRIPTION_LENGTH} characters", field="description")
    done = sanitized.get(value)
    return done if done is not None else sanitize_description(value)


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL with a host, and no space or control character anywhere in it.

    Browsers drop tabs and newlines from URLs and strip leading spaces, so `java\tscript:` and
    ` javascript:` are scripts there: only the exact, whole http(s) form passes.
    """
    if _SPACE_OR_CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed IPv6 host or port
        return False


def _online_locations(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_ONLINE_LOCATIONS:
        raise Invalid("online_locations must be an array of URLs", field="online_locations")
    locations = []
    for item in value:
        if not isinstance(item, str) or len(item) > 2048:
            raise Invalid("online_locations must be an array of URLs", field="online_locations")
        if not item.strip():
            continue
        # Gancio stores any text, so `javascript:` and `data:` links reached every page that shows them.
        if not is_web_url(item.strip()):
            raise Invalid(ONLINE_LOCATION_NOT_WEB, field="online_locations")
        locations.append(item.strip())
    return locations


def _tags(data: dict[str, Any]) -> list[str] | None:
    """The validated tags, or None when the field is absent."""
    if "tags" not in data or data["tags"] is None:
        return None
    return validate_tag_list(data["tags"])


def _image_name(data: dict[str, Any], title: str) -> str:
    name = data.get("image_name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:255]
    return title


# --- create -------------------------------------------------------------------------------------------


def create_event(
    db: Session,
    actor: Actor,
    data: dict[str, Any],
    image: ProcessedImage | None,
    context: EventWriteContext,
) -> WriteResult:
    """`POST /api/event`. Raises Forbidden (anonymous without allow_anon_event) and Invalid."""
    if actor.is_anonymous and not get_setting(db, "allow_anon_event"):
        raise Forbidden()
    now = context.current_time()
    recurrent = _parse_recurrent(data.get("recurrent"))
    title = _title(data.get("title"))
    raw_start, raw_end = data.get("start_datetime"), data.get("end_datetime")
    if not is_truthy(raw_start):
        raise Invalid("start_datetime required", field="start_datetime")
    start, end = parse_number(raw_start), parse_number(raw_end)
    if is_truthy(raw_end):
        # Gancio compares the raw values, as strings for forms ("9" > "10"); compare the numbers.
        if start is not None and end is not None and start > end:
            raise Invalid("start datetime is greater than end datetime", field="end_datetime")
        if end is not None and end > MAX_EVENT_TIMESTAMP:
            raise Invalid("are you sure?", field="end_datetime")
    if start is None or start == 0:
        raise Invalid("Wrong format for start datetime", field="start_datetime")
    if is_truthy(raw_end) and end is None:
        raise Invalid("Wrong format for end datetime", field="end_datetime")
    if start > MAX_EVENT_TIMESTAMP:
        raise Invalid("are you sure?", field="start_datetime")
    _check_not_too_early(start, end)
    if actor.is_anonymous and start < now:
        raise Invalid("Anonymous user cannot create past events", field="start_datetime")
    place = resolve_place(db, data, anonymous=actor.is_anonymous)
    tags = _tags(data)
    description = _description(data.get("description"), context.sanitized)
    online_locations = _online_locations(data.get("online_locations"))

    media = []
    if image is not None:
        focalpoint = parse_focalpoint(data.get("image_focalpoint")) or [0, 0]
        media.append(media_item(image, _image_name(data, title), focalpoint))
    created = utcnow()
    values = {
        "title": title,
        "slug": unique_slug(db, title),
        "description": description,
        "multidate": parse_bool(data["multidate"]) if "multidate" in data else None,
        "start_datetime": int(start),
        "end_datetime": int(end) if is_truthy(raw_end) and end is not None else None,
        "media": media,
        "is_visible": not actor.is_anonymous,
        "recurrent": recurrent,
        "likes": [],
        "boost": [],
        "online_locations": online_locations,
        "place_id": place.id,
        "user_id": actor.user_id,
        "created_at": created,
        "updated_at": created,
    }
    # A Core insert on the session's connection: the new row needs no ORM object (design.md "SQL for
    # hot paths"), and its columns are all here to answer with.
    event_id = inserted_id(db.connection().execute(_INSERT_EVENT, values))
    row = {**values, **_UNSET_COLUMNS, "id": event_id}
    stored_tags = normalize_tags(db, tags or [])
    add_event_tags(db, event_id, stored_tags)
    if image is not None:
        save_image(context.media_dir, image)
    if occurrences.is_generating(row):
        occurrences.generate_for_parent(db, row, now=now, tags=stored_tags)
    return WriteResult(event_to_wire({**row, **place_columns(place)}, stored_tags, Shape.FULL))


# --- update -------------------------------------------------------------------------------------------


def get_event_for_write(db: Session, actor: Actor, event_id: Any) -> Event:
    """The event `actor` may change: NotFound for an unknown id, then Forbidden (§5.3 step 1)."""
    parsed = parse_id(event_id)
    event = db.get(Event, parsed) if parsed is not None else None
    if event is None:
        raise NotFound()
    if not (actor.is_moderator or (actor.user_id is not None and event.user_id == actor.user_id)):
        raise Forbidden()
    return event


def _keeps_files(event: Event) -> bool:
    """Occurrences share their parent's image files, so neither side deletes them (§5.7)."""
    return event.recurrent is not None or event.parent_id is not None


def update_event(
    db: Session,
    actor: Actor,
    data: dict[str, Any],
    image: ProcessedImage | None,
    context: EventWriteContext,
) -> WriteResult:
    """`PUT /api/event` (§5.3). Raises NotFound, Forbidden, Invalid."""
    event = get_event_for_write(db, actor, data.get("id"))
    now = context.current_time()
    raw_start, raw_end = data.get("start_datetime"), data.get("end_datetime")
    start = parse_number(raw_start if is_truthy(raw_start) else event.start_datetime)
    if raw_end == "":
        end: float | None = None
    else:
        end_source = raw_end if is_truthy(raw_end) else event.end_datetime
        end = parse_number(end_source) if end_source is not None else None
        if is_truthy(raw_end) and end is None:
            raise Invalid("Wrong format for end datetime", field="end_datetime")
    if end is not None:
        if start is not None and start > end:
            raise Invalid("start datetime is greater than end datetime", field="end_datetime")
        if end > MAX_EVENT_TIMESTAMP:
            raise Invalid("end_datetime is too much in the future", field="end_datetime")
    if start is None or start == 0:
        raise Invalid("Wrong format for start datetime", field="start_datetime")
    if start > MAX_EVENT_TIMESTAMP:
        raise Invalid("start_datetime is too much in the future", field="start_datetime")
    _check_not_too_early(start, end)
    title = _title(data["title"]) if is_truthy(data.get("title")) else event.title
    description = _description(data.get("description"), context.sanitized)
    online_locations = _online_locations(data["online_locations"]) if "online_locations" in data else None
    # An absent `recurrent` turns a parent into a plain event, as Gancio does (§5.3 step 5, verified).
    recurrent = _parse_recurrent(data.get("recurrent")) if event.parent_id is None else None
    old_place_id = event.place_id
    place = resolve_place(db, data, anonymous=actor.is_anonymous, own_place_id=old_place_id)
    tags = _tags(data)

    obsolete: list[str] = []
    old_media = list(event.media or [])
    new_media = old_media
    focalpoint: list[float] | None
    if image is not None:
        focalpoint = parse_focalpoint(data.get("image_focalpoint")) or [0, 0]
        new_media = [media_item(image, _image_name(data, title), focalpoint)]
    elif not is_truthy(data.get("image")):
        new_media = []  # §5.7: without a truthy `image` field (or a new image) the media is cleared
    else:
        new_media = [dict(item) for item in old_media]
        focalpoint = parse_focalpoint(data.get("image_focalpoint"))
        for item in new_media:
            if focalpoint is not None:
                item["focalpoint"] = focalpoint
            if isinstance(data.get("image_name"), str) and data["image_name"].strip():
                item["name"] = data["image_name"].strip()[:255]
    if not _keeps_files(event):
        kept = {item.get("url") for item in new_media}
        obsolete = [item["url"] for item in old_media if item.get("url") and item["url"] not in kept]

    event.title = title
    if description:  # an empty description keeps the old one (§5.3 step 5)
        event.description = description
    if "multidate" in data:
        event.multidate = parse_bool(data["multidate"])
    event.start_datetime = int(start)
    event.end_datetime = int(end) if end is not None else None
    if online_locations is not None:
        event.online_locations = online_locations
    event.recurrent = recurrent
    event.media = new_media
    event.place_id = place.id
    db.flush()
    if old_place_id != place.id:
        drop_pending_place(db, old_place_id)
    stored_tags = normalize_tags(db, tags or [])
    set_event_tags(db, event.id, stored_tags)
    if image is not None:
        save_image(context.media_dir, image)
    occurrences.generate_for_parent(db, occurrences.parent_values(event), now=now, tags=stored_tags)
    db.refresh(event)
    return WriteResult(event_to_wire(event_row(event, place), stored_tags, Shape.FULL), obsolete)


# --- delete, confirm, unconfirm -----------------------------------------------------------------------


def delete_event(db: Session, actor: Actor, event_id: Any) -> list[str]:
    """`DELETE /api/event/:id`; returns image files to delete. Raises NotFound, Forbidden.

    Children of a recurrent parent are detached (the foreign key sets their parentId to NULL).
    """
    event = get_event_for_write(db, actor, event_id)
    obsolete = [] if _keeps_files(event) else [m["url"] for m in event.media or [] if m.get("url")]
    place_id = event.place_id
    db.delete(event)
    db.flush()
    drop_pending_place(db, place_id)  # a rejected submission leaves no place behind
    return obsolete


def confirm_event(db: Session, actor: Actor, event_id: Any, *, now: int | None = None) -> None:
    """`PUT /api/event/confirm/:id`: publish, and generate occurrences of a recurrent parent."""
    event = get_event_for_write(db, actor, event_id)
    if event.hidden_by_moderator and not actor.is_moderator:
        raise Forbidden(HIDDEN_BY_MODERATOR)
    event.is_visible = True
    event.hidden_by_moderator = False
    db.flush()
    publish_place(db, event.place_id)
    occurrences.generate_for_parent(
        db, occurrences.parent_values(event), now=now if now is not None else int(time.time())
    )


def unconfirm_event(db: Session, actor: Actor, event_id: Any) -> None:
    """`PUT /api/event/unconfirm/:id`: hide (404 for an unknown id, where Gancio answers 500).

    A moderator hiding someone else's event is remembered, so that its owner cannot publish it again
    (Gancio lets the owner undo the moderator's decision with a confirm).
    """
    event = get_event_for_write(db, actor, event_id)
    event.is_visible = False
    if actor.is_moderator and event.user_id != actor.user_id:
        event.hidden_by_moderator = True
    db.flush()


def assign_to_author(db: Session, body: dict[str, Any]) -> None:
    """`PUT /api/event/assign_to_author` (§2.3, admins): body `{id, user_id}` makes the user the event's
    author; `user_id` null makes the event anonymous. NotFound for an unknown event (as Gancio);
    Invalid for a `user_id` that names no user (Gancio answers 400 with its database error)."""
    parsed = parse_id(body.get("id"))
    event = db.get(Event, parsed) if parsed is not None else None
    if event is None:
        raise NotFound()
    raw_user = body.get("user_id")
    if raw_user is None or raw_user == "":
        event.user_id = None
    else:
        user_id = parse_id(raw_user)
        if user_id is None or db.get(User, user_id) is None:
            raise Invalid("user not found", field="user_id")
        event.user_id = user_id
    db.flush()


def remove_media_files(media_dir: Path, names: list[str]) -> None:
    for name in names:
        delete_image_files(media_dir, name)
