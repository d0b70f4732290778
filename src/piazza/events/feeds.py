"""RSS and iCalendar renderings of events (gancio-api.md §5.11). Pure functions over event dicts.

An event dict carries Gancio's export keys: `id, title, slug, description` (sanitized HTML),
`plain_description`, `start_datetime`, `end_datetime` (unix seconds or None), `multidate`, `media`,
`online_locations`, `tags` (strings), `place` (`{id, name, address, latitude, longitude}` or None) and
`updatedAt` (an aware datetime). `settings` is `piazza.instance.settings.get_settings(...)`.

RSS is built with feedgen (lxml underneath), so every text is escaped by the XML serializer and the
item description is a real CDATA section. ICS is built with icalendar, which escapes TEXT values and
folds lines at 75 octets (RFC 5545 §3.1, §3.3.11). Characters that XML 1.0 or RFC 5545 TEXT cannot
carry (NUL and the other C0 controls but tab and newline) are dropped from user text first; they
would otherwise make lxml refuse the document or produce an invalid calendar.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator
from icalendar import Alarm, Calendar, Event, vText

from piazza import __version__
from piazza.events.recurrence import get_zone

Settings = Mapping[str, Any]
EventDict = Mapping[str, Any]

ICS_PRODID = "-//Piazza//Piazza events//EN"
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
    """
    stamp = _aware(now or datetime.now(UTC)).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", ICS_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-published-ttl", vText("PT1H"))
    calendar.add("x-wr-calname", vText(clean_text(calendar_name or settings.get("title"))))
    if settings.get("description"):
        calendar.add("x-wr-caldesc", vText(clean_text(settings["description"])))
    for event in events:
        calendar.add_component(_vevent(event, settings, stamp, alarm))
    return calendar.to_ical().decode("utf-8")


def _vevent(event: EventDict, settings: Settings, stamp: datetime, alarm: bool) -> Event:
    vevent = Event()
    # Stable across exports, so a subscribed calendar updates the event instead of duplicating it.
    vevent.add("uid", f"{event['id']}@{settings['hostname']}")
    vevent.add("dtstamp", stamp)
    title = clean_text(event.get("title"))
    vevent.add("summary", title)
    vevent.add("dtstart", _utc(event["start_datetime"]))
    if event.get("end_datetime") is not None:
        vevent.add("dtend", _utc(event["end_datetime"]))
    if event.get("updatedAt"):
        vevent.add("last-modified", _aware(event["updatedAt"]).astimezone(UTC).replace(microsecond=0))
    plain = clean_text(event.get("plain_description"))
    if plain:
        vevent.add("description", plain)
    vevent.add("url", event_url(event, settings))
    location = location_text(event)
    if location:
        vevent.add("location", location)
    vevent.add("status", "CONFIRMED")
    tags = _tags(event)
    if tags:
        vevent.add("categories", tags)
    description_html = clean_text(event.get("description"))
    if description_html:
        # An X- property is written raw unless given as vText, and raw newlines break the file.
        vevent.add("x-alt-desc", vText(description_html), parameters={"FMTTYPE": "text/html"})
    place = event.get("place") or {}
    if place.get("latitude") is not None and place.get("longitude") is not None:
        vevent.add("geo", (float(place["latitude"]), float(place["longitude"])))
    if alarm:
        reminder = Alarm()
        reminder.add("action", "DISPLAY")
        reminder.add("description", title or "Reminder")  # required for DISPLAY (RFC 5545 §3.6.6)
        reminder.add("trigger", timedelta(hours=-1))
        vevent.add_component(reminder)
    return vevent


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


def _aware(value: datetime) -> datetime:
    """`value` with a time zone; a naive datetime is read as UTC (how the database stores times)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
