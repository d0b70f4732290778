"""RSS and iCalendar renderings of events (gancio-api.md §5.11). Pure functions over event dicts.

An event dict carries Gancio's export keys: `id, title, slug, description` (sanitized HTML),
`plain_description`, `start_datetime`, `end_datetime` (unix seconds or None), `multidate`, `media`,
`online_locations`, `tags` (strings), `place` (`{id, name, address, latitude, longitude}` or None) and
`updatedAt` (an aware datetime). `settings` is `piazza.instance.settings.get_settings(...)`.

RSS is built with feedgen (lxml underneath), so every text is escaped by the XML serializer and the
item description is a real CDATA section. ICS is written here line by line, as icalendar writes it:
TEXT values escaped and lines folded at 75 octets (RFC 5545 §3.1, §3.3.11). Characters that XML 1.0
or RFC 5545 TEXT cannot carry (NUL and the other C0 controls but tab and newline) are dropped from
user text first; they would otherwise make lxml refuse the document or produce an invalid calendar.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator

from piazza import __version__
from piazza.events.recurrence import get_zone

Settings = Mapping[str, Any]
EventDict = Mapping[str, Any]

ICS_PRODID = "-//Piazza//Piazza events//EN"
FOLD_OCTETS = 75
# C0 controls but tab and line feed (carriage returns become line feeds first), DEL, lone surrogates
# (JSON can carry them; UTF-8 cannot) and the two non-characters XML 1.0 excludes.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "gif": "image/gif", "avif": "image/avif"}
# English names for the date in the RSS description (Gancio's "EEEE, d MMMM HH:mm"). Localised
# names would need Babel; `instance_locale` defaults to "en".
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def clean_text(value: object) -> str:
    """`value` as text with LF line ends, without the characters XML 1.0 and RFC 5545 TEXT forbid."""
    value = "" if value is None else str(value)
    return _CONTROL_CHARS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def event_url(event: EventDict, settings: Settings) -> str:
    return f"{settings['baseurl']}/event/{event.get('slug') or event['id']}"


def media_url(media: Mapping[str, Any], settings: Settings) -> str:
    return f"{settings['baseurl']}/media/{quote(str(media['url']), safe='/')}"


def online_location(event: EventDict) -> str | None:
    """The first online location of an online event: one without a place, or at Gancio's `online`."""
    name = clean_text((event.get("place") or {}).get("name")).strip()
    online = [clean_text(url).strip() for url in event.get("online_locations") or []]
    online = [url for url in online if url]
    return online[0] if online and name.lower() in ("", "online") else None


def place_text(event: EventDict) -> str:
    """`<place> - <address>`, or only the name when there is no address."""
    place = event.get("place") or {}
    name = clean_text(place.get("name")).strip()
    address = clean_text(place.get("address")).strip()
    return f"{name} - {address}" if name and address else name


def location_text(event: EventDict) -> str:
    """`<place> - <address>`, or `online - <first online location>` (Gancio's LOCATION)."""
    online = online_location(event)
    return f"online - {online}" if online else place_text(event)


# --------------------------------------------------------------------------------------------- RSS


def render_rss(events: Iterable[EventDict], *, settings: Settings, title: str, self_url: str) -> str:
    """An RSS 2.0 document with the Atom namespace, one item per event, in the given order."""
    zone = get_zone(settings.get("instance_timezone"))
    events = list(events)
    feed = FeedGenerator()
    # feedgen refuses a channel without title or description; neither may be empty in RSS 2.0.
    title = clean_text(title) or clean_text(settings.get("title")) or "Piazza"
    feed.title(title)
    # feedgen writes the last `link` it was given as the channel <link>, and rel=self as atom:link.
    feed.link(href=self_url, rel="self", type="application/rss+xml")
    feed.link(href=settings["baseurl"], rel="alternate")
    feed.description(clean_text(settings.get("description")) or title)
    feed.language(clean_text(settings.get("instance_locale")) or "en")
    feed.generator("Piazza", version=__version__)
    updated = [_aware(event["updatedAt"]) for event in events if event.get("updatedAt")]
    if updated:  # stable for an unchanged list, which keeps HTTP caches and readers quiet
        feed.lastBuildDate(max(updated))

    for event in events:
        item = feed.add_entry(order="append")
        url = event_url(event, settings)
        item.title(_item_title(event, zone))
        item.link(href=url)
        item.guid(url, permalink=True)
        item.content(_item_html(event, settings, zone), type="CDATA")
        for tag in _tags(event):
            item.category(term=tag)
        media = (event.get("media") or [None])[0]
        if media and media.get("url"):
            item.enclosure(
                url=media_url(media, settings),
                length=str(int(media.get("size") or 0)),
                type=_media_type(media["url"]),
            )
        if event.get("updatedAt"):
            item.pubDate(_aware(event["updatedAt"]))
    return feed.rss_str(pretty=True).decode("utf-8")


def _item_title(event: EventDict, zone: ZoneInfo) -> str:
    """`[yyyy-MM-dd] <title> @ <place name>`, the date in the instance time zone."""
    day = datetime.fromtimestamp(event["start_datetime"], zone).strftime("%Y-%m-%d")
    text = f"[{day}] {clean_text(event.get('title'))}"
    place_name = clean_text((event.get("place") or {}).get("name"))
    return f"{text} @ {place_name}" if place_name else text


def _item_html(event: EventDict, settings: Settings, zone: ZoneInfo) -> str:
    """Gancio's item layout: title, where, when, image, then the (already sanitized) description.

    Title, place and URLs are user text and are HTML-escaped here; `]]>` can then only come from
    the description, where it is rewritten `]]&gt;` (the same HTML) so it cannot close the CDATA.
    """
    escape = html.escape
    parts = [f"<h3>{escape(clean_text(event.get('title')))}</h3>"]
    online = online_location(event)
    if online:
        target = f'<a href="{escape(online)}">{escape(online)}</a>' if _is_web_url(online) else escape(online)
        parts.append(f"<strong>online - {target}</strong>")
    elif place_text(event):
        parts.append(f"<strong>{escape(place_text(event))}</strong>")
    parts.append(f"<br/><small>({_long_date(event['start_datetime'], zone)})</small><br/>")
    media = (event.get("media") or [None])[0]
    if media and media.get("url"):
        alt = escape(clean_text(media.get("name") or event.get("title")))
        parts.append(f'<img alt="{alt}" src="{escape(media_url(media, settings))}"/>')
    parts.append(clean_text(event.get("description")))
    return "".join(parts).replace("]]>", "]]&gt;")


def _tags(event: EventDict) -> list[str]:
    return [tag for tag in (clean_text(tag) for tag in event.get("tags") or []) if tag]


def _long_date(timestamp: int, zone: ZoneInfo) -> str:
    """`EEEE, d MMMM HH:mm` in `zone`, e.g. `Friday, 27 November 20:26`."""
    local = datetime.fromtimestamp(timestamp, zone)
    return f"{_WEEKDAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"


def _media_type(url: str) -> str:
    # Gancio stores every upload as JPEG; keep that as the default and name other formats right.
    return _MEDIA_TYPES.get(str(url).rsplit(".", 1)[-1].lower(), "image/jpeg")


def _is_web_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


# --------------------------------------------------------------------------------------------- ICS


def render_ics(
    events: Iterable[EventDict],
    *,
    settings: Settings,
    alarm: bool = False,
    calendar_name: str | None = None,
    now: datetime | None = None,
) -> str:
    """An iCalendar (RFC 5545) document, one VEVENT per event; `alarm` adds a reminder an hour before.

    Times are written in UTC (`...Z`), which every calendar application reads without a VTIMEZONE.
    DTSTAMP is the export time (`now`), as RFC 5545 §3.8.7.2 asks when METHOD is present; the
    event's own last change is LAST-MODIFIED.

    Written line by line rather than through icalendar's object model, which cost about 2 ms an event
    (a 100-event feed answered 3 requests a second); the output is what icalendar writes, properties in
    its order, and tests/events/test_ics_writer.py compares the two.
    """
    stamp = _ics_time(_aware(now or datetime.now(UTC)))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{_ics_text(ICS_PRODID)}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    if settings.get("description"):
        lines.append(f"X-WR-CALDESC:{_ics_text(clean_text(settings['description']))}")
    lines.append(f"X-WR-CALNAME:{_ics_text(clean_text(calendar_name or settings.get('title')))}")
    lines.append("X-PUBLISHED-TTL:PT1H")
    for event in events:
        _vevent_lines(lines, event, settings, stamp, alarm)
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def _vevent_lines(lines: list[str], event: EventDict, settings: Settings, stamp: str, alarm: bool) -> None:
    """The VEVENT's content lines, in icalendar's order: SUMMARY, DTSTART, DTEND, DTSTAMP, UID, then
    the others alphabetically."""
    title = _ics_text(clean_text(event.get("title")))
    lines.append("BEGIN:VEVENT")
    lines.append(f"SUMMARY:{title}")
    lines.append(f"DTSTART:{_ics_time(_utc(event['start_datetime']))}")
    if event.get("end_datetime") is not None:
        lines.append(f"DTEND:{_ics_time(_utc(event['end_datetime']))}")
    lines.append(f"DTSTAMP:{stamp}")
    # Stable across exports, so a subscribed calendar updates the event instead of duplicating it.
    lines.append(f"UID:{_ics_text(str(event['id']) + '@' + settings['hostname'])}")
    tags = _tags(event)
    if tags:
        lines.append(f"CATEGORIES:{','.join(_ics_text(tag) for tag in tags)}")
    plain = clean_text(event.get("plain_description"))
    if plain:
        lines.append(f"DESCRIPTION:{_ics_text(plain)}")
    place = event.get("place") or {}
    if place.get("latitude") is not None and place.get("longitude") is not None:
        lines.append(f"GEO:{float(place['latitude'])};{float(place['longitude'])}")
    if event.get("updatedAt"):
        lines.append(f"LAST-MODIFIED:{_ics_time(_aware(event['updatedAt']))}")
    location = location_text(event)
    if location:
        lines.append(f"LOCATION:{_ics_text(location)}")
    lines.append("STATUS:CONFIRMED")
    lines.append(f"URL:{event_url(event, settings)}")
    description_html = clean_text(event.get("description"))
    if description_html:
        lines.append(f"X-ALT-DESC;FMTTYPE=text/html:{_ics_text(description_html)}")
    if alarm:
        lines.append("BEGIN:VALARM")
        lines.append("ACTION:DISPLAY")
        # DESCRIPTION is required for DISPLAY (RFC 5545 §3.6.6).
        lines.append(f"DESCRIPTION:{title or 'Reminder'}")
        lines.append("TRIGGER:-PT1H")
        lines.append("END:VALARM")
    lines.append("END:VEVENT")


def _ics_text(value: str) -> str:
    """RFC 5545 §3.3.11 TEXT: backslash, semicolon and comma escaped, line breaks as `\\n`."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _ics_time(value: datetime) -> str:
    """A UTC DATE-TIME (RFC 5545 §3.3.5, form 2), to the second."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines of at most 75 octets, continued after CRLF and a space. As icalendar
    folds: before the octet that would make 75, never between a backslash and the character it
    escapes."""
    parts: list[str] = []
    if line.isascii():  # one octet a character: cut by slicing
        while len(line) >= FOLD_OCTETS:
            cut = FOLD_OCTETS - 1 if line[FOLD_OCTETS - 2] not in "\\^" else FOLD_OCTETS - 2
            parts.append(line[:cut])
            line = line[cut:]
        parts.append(line)
        return "\r\n ".join(parts)
    current: list[str] = []
    count = 0
    for char in line:
        size = len(char.encode("utf-8", "surrogatepass"))
        if current and count + size >= FOLD_OCTETS:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                parts.append("".join(current))
                current, count = [carried], len(carried.encode())
            else:
                parts.append("".join(current))
                current, count = [], 0
        current.append(char)
        count += size
    parts.append("".join(current))
    return "\r\n ".join(parts)


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


def _aware(value: datetime) -> datetime:
    """`value` with a time zone; a naive datetime is read as UTC (how the database stores times)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
