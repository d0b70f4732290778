"""RSS and iCalendar renderings of events (gancio-api.md §5.11). Pure functions over event dicts.

An event dict carries Gancio's export keys: `id, title, slug, description` (sanitized HTML),
`plain_description`, `start_datetime`, `end_datetime` (unix seconds or None), `multidate`, `media`,
`online_locations`, `tags` (strings), `place` (`{id, name, address, latitude, longitude}` or None) and
`updatedAt` (an aware datetime). `settings` is `piazza.instance.settings.get_settings(...)`.

Both are written here as text, byte for byte as the libraries we used before write them (the tests
compare the two): RSS as feedgen and lxml write it, every text escaped as lxml escapes it and the item
description a CDATA section; ICS as icalendar writes it, TEXT values escaped and lines folded at 75
octets (RFC 5545 §3.1, §3.3.11). Characters that XML 1.0 or RFC 5545 TEXT cannot carry (NUL and the
other C0 controls but tab and newline) are dropped from user text first; they would otherwise make an
invalid document. Feeds write the same events on every request, so each item and VEVENT is cached by
everything it is written from.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from piazza.events.memo import TextMemo
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
ENGLISH_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ENGLISH_MONTHS = (
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
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_CHARS.sub("", value)


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


ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
RSS_DOCS = "http://www.rssboard.org/rss-specification"


def render_rss(events: Iterable[EventDict], *, settings: Settings, title: str, self_url: str) -> str:
    """An RSS 2.0 document with the Atom namespace, one item per event, in the given order.

    Written as text rather than through feedgen and lxml, which cost a third of a feed request; the
    output is what feedgen writes (pretty-printed by lxml), and tests/events/test_rss_writer.py
    compares the two, for hostile text too.
    """
    zone = get_zone(settings.get("instance_timezone"))
    events = list(events)
    # Neither the channel's title nor its description may be empty in RSS 2.0.
    title = clean_text(title) or clean_text(settings.get("title")) or "Piazza"
    updated = [_aware(event["updatedAt"]) for event in events if event.get("updatedAt")]
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<rss xmlns:atom="{ATOM_NS}" xmlns:content="{CONTENT_NS}" version="2.0">',
        "  <channel>",
        f"    <title>{_xml_text(title)}</title>",
        f"    <link>{_xml_text(settings['baseurl'])}</link>",
        f"    <description>{_xml_text(clean_text(settings.get('description')) or title)}</description>",
        f'    <atom:link href="{_xml_attribute(self_url)}" rel="self" type="application/rss+xml"/>',
        f"    <docs>{RSS_DOCS}</docs>",
        "    <generator>Piazza</generator>",
        f"    <language>{_xml_text(clean_text(settings.get('instance_locale')) or 'en')}</language>",
        # Stable for an unchanged list, which keeps HTTP caches and readers quiet (feedgen's default,
        # the export time, when there is none).
        f"    <lastBuildDate>{_rfc2822(max(updated) if updated else datetime.now(UTC))}</lastBuildDate>",
    ]
    for event in events:
        lines.append(_rss_item(event, settings, zone))
    lines.append("  </channel>")
    lines.append("</rss>")
    return "\n".join(lines) + "\n"


# As for VEVENTs: an item is cached by everything it is written from, unless its description is long.
RSS_ITEM_CACHE_SIZE = 512
RSS_ITEM_CACHE_MAX_LENGTH = 2048


def _rss_item(event: EventDict, settings: Settings, zone: ZoneInfo) -> str:
    place = event.get("place") or {}
    media = (event.get("media") or [None])[0] or {}
    key = (
        event["id"],
        event.get("slug"),
        event.get("title"),
        event["start_datetime"],
        event.get("updatedAt"),
        tuple(event.get("tags") or ()),
        event.get("description"),
        place.get("name"),
        place.get("address"),
        tuple(event.get("online_locations") or ()),
        media.get("url"),
        media.get("size"),
        media.get("name"),
        settings["baseurl"],
        zone,
    )
    if len(event.get("description") or "") <= RSS_ITEM_CACHE_MAX_LENGTH:
        try:
            return _cached_rss_item(key)
        except TypeError:  # an unhashable value (say, imported media of another shape)
            pass
    return _rss_item_from(key)


def _rss_item_from(key: tuple[Any, ...]) -> str:
    """The <item> element, indented, written from the cache key alone."""
    (event_id, slug, title, start, updated, tags, description, name, address, online) = key[:10]
    (media_url_, media_size, media_name, baseurl, zone) = key[10:]
    media = {"url": media_url_, "size": media_size, "name": media_name} if media_url_ else None
    event = {
        "id": event_id,
        "slug": slug,
        "title": title,
        "start_datetime": start,
        "tags": tags,
        "description": description,
        "place": {"name": name, "address": address},
        "online_locations": online,
        "media": [media],
    }
    settings = {"baseurl": baseurl}
    url = _xml_text(event_url(event, settings))
    lines = [
        "    <item>",
        f"      <title>{_xml_text(_item_title(event, zone))}</title>",
        f"      <link>{url}</link>",
        f"      <description><![CDATA[{_item_html(event, settings, zone)}]]></description>",
        f'      <guid isPermaLink="true">{url}</guid>',
    ]
    lines += [f"      <category>{_xml_text(tag)}</category>" for tag in _tags(event)]
    if media:
        lines.append(
            f'      <enclosure url="{_xml_attribute(media_url(media, settings))}"'
            f' length="{_xml_attribute(str(int(media_size or 0)))}"'
            f' type="{_xml_attribute(_media_type(media_url_))}"/>'
        )
    if updated:
        lines.append(f"      <pubDate>{_rfc2822(_aware(updated))}</pubDate>")
    lines.append("    </item>")
    return "\n".join(lines)


_cached_rss_item = functools.lru_cache(maxsize=RSS_ITEM_CACHE_SIZE)(_rss_item_from)


def _xml_text(value: str) -> str:
    """Character data as lxml writes it: markup characters as entities, CR as a reference."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _xml_attribute(value: str) -> str:
    """An attribute value (in double quotes) as lxml writes it; whitespace other than space is kept
    as character references, which attribute-value normalisation would otherwise turn into spaces."""
    return _xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _rfc2822(value: datetime) -> str:
    """An RFC 2822 date as feedgen writes it, e.g. `Fri, 27 Nov 2026 22:49:13 +0000`, with English
    names whatever the process locale."""
    day, month = ENGLISH_WEEKDAYS[value.weekday()][:3], ENGLISH_MONTHS[value.month - 1][:3]
    return f"{day}, {value:%d} {month} {value:%Y %H:%M:%S %z}"


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
    return f"{ENGLISH_WEEKDAYS[local.weekday()]}, {local.day} {ENGLISH_MONTHS[local.month - 1]} {local:%H:%M}"


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
    stamp = ics_stamp(now)
    return ics_head(settings, calendar_name) + ics_vevents(events, settings, stamp, alarm) + ICS_TAIL


# render_ics in parts, for documents written in batches of events (piazza.events.exports): the head,
# the VEVENTs of each batch and the tail, each ending with CRLF, joined give render_ics' text.
ICS_TAIL = "END:VCALENDAR\r\n"


def ics_stamp(now: datetime | None = None) -> str:
    """DTSTAMP's value: the export time."""
    return _ics_time(_aware(now or datetime.now(UTC)))


def ics_head(settings: Settings, calendar_name: str | None = None) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        _fold(f"PRODID:{_ics_text(ICS_PRODID)}"),
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    if settings.get("description"):
        lines.append(_fold(f"X-WR-CALDESC:{_ics_text(clean_text(settings['description']))}"))
    lines.append(_fold(f"X-WR-CALNAME:{_ics_text(clean_text(calendar_name or settings.get('title')))}"))
    lines.append("X-PUBLISHED-TTL:PT1H")
    return "\r\n".join(lines) + "\r\n"


def ics_vevents(events: Iterable[EventDict], settings: Settings, stamp: str, alarm: bool = False) -> str:
    lines: list[str] = []
    for event in events:
        before, after = _vevent(event, settings, alarm)
        lines += (before, f"DTSTAMP:{stamp}", after)
    return "\r\n".join(lines) + "\r\n" if lines else ""


# A feed writes the same events on every build, and writing a VEVENT was a third of its cost. The
# text before and after DTSTAMP (the one line that changes) is remembered by everything it is written
# from, for as many events as fit in the memo's characters (piazza.events.memo): about 6,000 short
# events, some 10 MB a worker. More would keep larger agendas too, but a worker of a 20,000-event
# agenda then grew by 20 MB (the workers' target is 150 MB).
VEVENT_MEMO_CHARS = 8_000_000


def _vevent(event: EventDict, settings: Settings, alarm: bool) -> tuple[str, str]:
    """The VEVENT's folded lines before DTSTAMP and after it."""
    place = event.get("place") or {}
    key = (
        event["id"],
        event.get("slug"),
        event.get("title"),
        event["start_datetime"],
        event.get("end_datetime"),
        event.get("updatedAt"),
        tuple(event.get("tags") or ()),
        event.get("plain_description"),
        event.get("description"),
        place.get("name"),
        place.get("address"),
        place.get("latitude"),
        place.get("longitude"),
        tuple(event.get("online_locations") or ()),
        settings["hostname"],
        settings["baseurl"],
        alarm,
    )
    # What the entry holds: the VEVENT, about as long as its texts and a few hundred characters more
    # (its key's texts are the row's and the plain-text memo's own strings).
    chars = len(event.get("description") or "") + len(event.get("plain_description") or "") + 1000
    try:
        return _vevents.get(key, chars)
    except TypeError:  # an unhashable value (say, imported data of another shape)
        return _vevent_from(key)


def _vevent_from(key: tuple[Any, ...]) -> tuple[str, str]:
    """Written from the cache key alone, so that nothing outside the key can change the text."""
    (event_id, slug, title, start, end, updated, tags, plain, description) = key[:9]
    (name, address, latitude, longitude, online, hostname, baseurl, alarm) = key[9:]
    event = {
        "id": event_id,
        "slug": slug,
        "title": title,
        "start_datetime": start,
        "end_datetime": end,
        "updatedAt": updated,
        "tags": tags,
        "plain_description": plain,
        "description": description,
        "place": {"name": name, "address": address, "latitude": latitude, "longitude": longitude},
        "online_locations": online,
    }
    lines: list[str] = []
    _vevent_lines(lines, event, {"hostname": hostname, "baseurl": baseurl}, "", alarm)
    at = lines.index("DTSTAMP:")
    return "\r\n".join(lines[:at]), "\r\n".join(lines[at + 1 :])


_vevents: TextMemo[tuple[Any, ...], tuple[str, str]] = TextMemo(_vevent_from, max_chars=VEVENT_MEMO_CHARS)


def _vevent_lines(lines: list[str], event: EventDict, settings: Settings, stamp: str, alarm: bool) -> None:
    """The VEVENT's content lines, in icalendar's order: SUMMARY, DTSTART, DTEND, DTSTAMP, UID, then
    the others alphabetically. Lines that carry text are folded; the others are always short."""
    title = _ics_text(clean_text(event.get("title")))
    lines.append("BEGIN:VEVENT")
    lines.append(_fold(f"SUMMARY:{title}"))
    lines.append(f"DTSTART:{_ics_timestamp(event['start_datetime'])}")
    if event.get("end_datetime") is not None:
        lines.append(f"DTEND:{_ics_timestamp(event['end_datetime'])}")
    lines.append(f"DTSTAMP:{stamp}")
    # Stable across exports, so a subscribed calendar updates the event instead of duplicating it.
    lines.append(_fold(f"UID:{_ics_text(str(event['id']) + '@' + settings['hostname'])}"))
    tags = _tags(event)
    if tags:
        lines.append(_fold(f"CATEGORIES:{','.join(_ics_text(tag) for tag in tags)}"))
    plain = clean_text(event.get("plain_description"))
    if plain:
        lines.append(_fold(f"DESCRIPTION:{_ics_text(plain)}"))
    place = event.get("place") or {}
    if place.get("latitude") is not None and place.get("longitude") is not None:
        lines.append(_fold(f"GEO:{float(place['latitude'])};{float(place['longitude'])}"))
    if event.get("updatedAt"):
        lines.append(f"LAST-MODIFIED:{_ics_time(_aware(event['updatedAt']))}")
    location = location_text(event)
    if location:
        lines.append(_fold(f"LOCATION:{_ics_text(location)}"))
    lines.append("STATUS:CONFIRMED")
    lines.append(_fold(f"URL:{event_url(event, settings)}"))
    description_html = clean_text(event.get("description"))
    if description_html:
        lines.append(_fold(f"X-ALT-DESC;FMTTYPE=text/html:{_ics_text(description_html)}"))
    if alarm:
        lines.append("BEGIN:VALARM")
        lines.append("ACTION:DISPLAY")
        # DESCRIPTION is required for DISPLAY (RFC 5545 §3.6.6).
        lines.append(_fold(f"DESCRIPTION:{title or 'Reminder'}"))
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


# A feed writes the same starts, ends and changes on every request, and formatting them was a tenth of
# its cost; these caches hold a few hundred kilobytes at most.
@functools.lru_cache(maxsize=4096)
def _ics_time(value: datetime) -> str:
    """A UTC DATE-TIME (RFC 5545 §3.3.5, form 2), to the second."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@functools.lru_cache(maxsize=4096)
def _ics_timestamp(timestamp: int) -> str:
    """`_ics_time` of unix seconds."""
    return _ics_time(_utc(timestamp))


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines of at most 75 octets, continued after CRLF and a space. As icalendar
    folds: before the octet that would make 75, never between a backslash and the character it
    escapes."""
    if len(line) < FOLD_OCTETS and (
        line.isascii() or len(line.encode("utf-8", "surrogatepass")) < FOLD_OCTETS
    ):
        return line  # most lines: short enough
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
