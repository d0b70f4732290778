"""The AS2 objects the instance serves: its local public events and their places
(gancio-federation.md §4). Remote and hidden events are not served (§20: Gancio serves unpublished ones).

Where Gancio's versions differ, the shape every Gancio from 1.21.0 to 1.28 and Mastodon accept is used
(§19.1): `location` is one `Place` (a list is refused by 1.21.0), the image comes first in `attachment`
(1.21-1.23 read the image from `attachment[0]`), and the focal point is the real one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from piazza.errors import NotFound
from piazza.events.feeds import ENGLISH_MONTHS, ENGLISH_WEEKDAYS
from piazza.events.models import Event, EventTag, Place
from piazza.federation.discovery import AS_CONTEXT, PUBLIC, Identity, federation_identity
from piazza.instance.settings import get_settings_of

EVENT_CONTEXT: list[Any] = [
    AS_CONTEXT,
    "https://w3id.org/security/v1",
    {
        "toot": "http://joinmastodon.org/ns#",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "discoverable": "toot:discoverable",
        "Hashtag": "https://www.w3.org/ns/activitystreams#Hashtag",
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    },
]
OBJECT_KEYS = ("instance_timezone", "default_fedi_hashtags")


def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def iso_time(timestamp: int, zone: ZoneInfo) -> str:
    """`2025-12-31T20:00:00.000+01:00`: milliseconds and the offset of the instance zone."""
    return datetime.fromtimestamp(timestamp, zone).isoformat(timespec="milliseconds")


def iso_utc(moment: datetime) -> str:
    """`2025-12-01T10:00:00.000Z`, as JavaScript's toISOString."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def human_start(timestamp: int, zone: ZoneInfo) -> str:
    """`Wednesday, December 31 at 08:00 PM CET` (English: Piazza has no CLDR data for luxon's locales)."""
    moment = datetime.fromtimestamp(timestamp, zone)
    clock = moment.strftime("%I:%M ") + ("AM" if moment.hour < 12 else "PM")
    day = f"{ENGLISH_WEEKDAYS[moment.weekday()]}, {ENGLISH_MONTHS[moment.month - 1]} {moment.day}"
    return f"{day} at {clock} {moment.tzname()}"


def place_object(base_url: str, place: Place) -> dict[str, Any]:
    """`Place.toAP` of 1.24+ (§4.3); coordinates when both are set (Gancio drops an exact 0)."""
    item: dict[str, Any] = {
        "id": place.ap_id or f"{base_url}/federation/p/{place.id}",
        "type": "Place",
        "name": place.name,
        "address": place.address or "",
        "url": place.ap_id or f"{base_url}/place/{place.id}/{quote(place.name, safe='')}",
    }
    if place.latitude is not None and place.longitude is not None:
        item["latitude"] = place.latitude
        item["longitude"] = place.longitude
    return item


def _hashtags(base_url: str, tags: list[str], extra: object) -> list[dict[str, str]]:
    names = list(tags)
    if isinstance(extra, list):  # default_fedi_hashtags, merged in without exact duplicates
        for item in extra:
            if isinstance(item, str) and item.strip().lstrip("#") and item.strip().lstrip("#") not in names:
                names.append(item.strip().lstrip("#"))
    return [
        {"type": "Hashtag", "name": f"#{name}", "href": f"{base_url}/tag/{quote(name, safe='')}"}
        for name in names
    ]


def event_object(
    identity: Identity, event: Event, place: Place | None, tags: list[str], settings: dict[str, Any]
) -> dict[str, Any]:
    """The AS2 `Event` of a local event, field by field as §4.2 and §19.1 describe."""
    base = identity.base_url
    zone = _zone(settings.get("instance_timezone"))
    online = [url for url in (event.online_locations or []) if isinstance(url, str) and url]
    attachment: list[dict[str, Any]] = []
    media = event.media[0] if isinstance(event.media, list) and event.media else None
    if isinstance(media, dict) and media.get("url"):
        focal = media.get("focalpoint")
        attachment.append(
            {
                "type": "Document",
                "mediaType": "image/jpeg",
                "url": f"{base}/media/{media['url']}",
                "name": media.get("name") or event.title or "",
                "focalPoint": focal if isinstance(focal, list) and len(focal) == 2 else [0, 0],
            }
        )
    attachment += [{"type": "Link", "mediaType": "text/html", "name": url, "href": url} for url in online]
    if place is not None and place.name != "online":
        location = place_object(base, place)
        place_name = place.name
    else:
        location = {"type": "Place", "name": "online", "address": ""}
        place_name = "online"
    description = event.description or ""
    item: dict[str, Any] = {
        "id": f"{base}/federation/m/{event.id}",
        "type": "Event",
        "name": event.title,
        "url": f"{base}/event/{event.slug or event.id}",
        "startTime": iso_time(event.start_datetime, zone),
    }
    if event.end_datetime:
        item["endTime"] = iso_time(event.end_datetime, zone)
    item.update(
        {
            "location": location,
            "attachment": attachment,
            "tag": _hashtags(base, tags, settings.get("default_fedi_hashtags")),
            "published": iso_utc(event.created_at),
            "updated": iso_utc(event.updated_at),
            "attributedTo": identity.actor,
            "to": [PUBLIC],
            "cc": [f"{identity.actor}/followers"],
            "content": description,
            # 1.22+: Mastodon shows `summary`, not `content`, so it carries the place, the date and
            # the description (which is sanitized HTML already; the place name is escaped here).
            "summary": f"<p>{escape(place_name)}, {human_start(event.start_datetime, zone)}</p>{description}",
        }
    )
    return item


def _local_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise NotFound("Not found")
    return int(value)


def load_event_object(db: Session, base_url: str, event_id: str) -> dict[str, Any]:
    """`/federation/m/<id>` (with or without `.json`): a local, visible event, or NotFound."""
    identity = federation_identity(db, base_url)
    wanted = _local_id(event_id.removesuffix(".json"))
    event = db.scalar(
        select(Event).where(Event.id == wanted, Event.is_visible.is_(True), Event.ap_id.is_(None))
    )
    if event is None:
        raise NotFound("Not found")
    return _with_context(identity, db, base_url, event)


def load_event_object_by_slug(db: Session, base_url: str, slug_or_id: str) -> dict[str, Any]:
    """The object `/event/<slug or id>` stands for, for an ActivityPub client."""
    identity = federation_identity(db, base_url)
    condition = Event.slug == slug_or_id
    if slug_or_id.isdigit() and len(slug_or_id) <= 18:
        condition = condition | (Event.id == int(slug_or_id))
    event = db.scalars(
        select(Event)
        .where(condition, Event.is_visible.is_(True), Event.ap_id.is_(None))
        .order_by((Event.slug == slug_or_id).desc())
        .limit(1)
    ).first()
    if event is None:
        raise NotFound("Not found")
    return _with_context(identity, db, base_url, event)


def _with_context(identity: Identity, db: Session, base_url: str, event: Event) -> dict[str, Any]:
    place = db.get(Place, event.place_id) if event.place_id is not None else None
    tags = list(
        db.scalars(
            select(EventTag.tag)
            .where(EventTag.event_id == event.id)
            .order_by(EventTag.created_at, EventTag.tag)
        )
    )
    settings = get_settings_of(db, base_url, OBJECT_KEYS)
    return {"@context": EVENT_CONTEXT, **event_object(identity, event, place, tags, settings)}


def load_place_object(db: Session, base_url: str, place_id: str) -> dict[str, Any]:
    """`/federation/p/<id>`: a local place (one not taken from another server), or NotFound."""
    identity = federation_identity(db, base_url)
    place = db.get(Place, _local_id(place_id))
    if place is None or place.ap_id is not None:
        raise NotFound("Not found.")
    return {"@context": [AS_CONTEXT], **place_object(identity.base_url, place)}
