"""What every visitor sees: the home page, the month calendar, an event, the static pages."""

from __future__ import annotations

import calendar
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from piazza.errors import Invalid, NotFound
from piazza.events import queries
from piazza.events.service import MAX_EVENT_TIMESTAMP, MIN_EVENT_TIMESTAMP
from piazza.federation.api import activity_json
from piazza.federation.discovery import FederationDisabled
from piazza.federation.negotiation import wants_activity_json
from piazza.federation.objects import load_event_object_by_slug
from piazza.instance.announcements_service import visible_announcements
from piazza.instance.collection_events import collection_events
from piazza.instance.pages_service import visible_page
from piazza.web.render import Layout, error_page, load, render

router = APIRouter(include_in_schema=False)

# The home page shows upcoming events up to this many; the filters narrow it down.
HOME_LIMIT = 200
# How many known places and tags the filters and the event form offer.
SUGGESTIONS = 200


def event_day(event: dict[str, Any], zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(event["start_datetime"], zone).date()


def group_by_day(events: list[dict[str, Any]], zone: ZoneInfo) -> list[tuple[date, list[dict[str, Any]]]]:
    """Events in start order, grouped under their day in the instance time zone."""
    return [(day, list(items)) for day, items in groupby(events, key=lambda e: event_day(e, zone))]


def _parse_place(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _home_data(db: Session, layout: Layout, tag: str | None, place_id: int | None) -> dict[str, Any]:
    now = int(time.time())
    collection = layout.settings.get("collection_in_home")
    if collection and not tag and place_id is None:
        events = collection_events(db, str(collection), start_at=now, max=HOME_LIMIT)
    else:
        params: dict[str, list[str]] = {"max": [str(HOME_LIMIT)]}
        if tag:
            params["tags"] = [tag]
        if place_id is not None:
            params["places"] = [str(place_id)]
        listing = queries.parse_listing(params, now=now)
        events = queries.list_events(db, listing, queries.ListingSettings.of(layout.settings))
    return {
        "events": events,
        "announcements": visible_announcements(db),
        **_filter_suggestions(events),
        "collection": collection if collection and not tag and place_id is None else None,
    }


def _filter_suggestions(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The places and tags the filters offer: those of the events listed, most frequent first.

    Taken from the page itself, not counted over every event ever held (a scan that grows with the
    agenda), and more useful too: each suggestion leads to upcoming events.
    """
    places: dict[int, dict[str, Any]] = {}
    place_counts: Counter[int] = Counter()
    tag_counts: Counter[str] = Counter()
    for event in events:
        place = event.get("place")
        if place and place.get("id") is not None:
            places.setdefault(place["id"], place)
            place_counts[place["id"]] += 1
        tag_counts.update(event.get("tags") or ())
    return {
        "places": [places[place_id] for place_id, _ in place_counts.most_common(SUGGESTIONS)],
        "tags": [tag for tag, _ in tag_counts.most_common(SUGGESTIONS)],
    }


@router.get("/")
async def home(request: Request, tag: str | None = None, place: str | None = None) -> Response:
    tag = (tag or "").strip()[:100] or None
    place_id = _parse_place(place)
    layout, data = await load(request, _home_data, tag, place_id)
    assert data is not None  # noqa: S101  (load returns fn's result)
    return render(
        request,
        "home.html",
        layout,
        days=group_by_day(data.pop("events"), layout.zone),
        tag=tag,
        place_id=place_id,
        **data,
    )


# --- the month calendar -------------------------------------------------------------------------------


# The years an event can be in (events/service.py MIN_EVENT_TIMESTAMP, MAX_EVENT_TIMESTAMP), less one
# at each end so that a month's first and last day exist in every time zone. `9999-12` used to be a
# 500: its end, a month later, is past the last date Python can hold.
FIRST_YEAR = datetime.fromtimestamp(MIN_EVENT_TIMESTAMP, UTC).year + 1
LAST_YEAR = datetime.fromtimestamp(MAX_EVENT_TIMESTAMP, UTC).year - 1


def parse_month(value: str | None, zone: ZoneInfo) -> tuple[int, int]:
    """`YYYY-MM`, or the current month in the instance time zone when it is not a month at all.
    Raises Invalid for a month outside FIRST_YEAR to LAST_YEAR."""
    if value:
        try:
            parsed = datetime.strptime(value, "%Y-%m")
        except ValueError:
            pass
        else:
            if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
                raise Invalid(f"The calendar shows the years {FIRST_YEAR} to {LAST_YEAR}.", field="month")
            return parsed.year, parsed.month
    today = datetime.now(zone)
    return today.year, today.month


def _shift(year: int, month: int, delta: int) -> str:
    index = year * 12 + (month - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _calendar_data(db: Session, layout: Layout, month: str | None) -> dict[str, Any]:
    zone = layout.zone
    year, number = parse_month(month, zone)
    first = datetime(year, number, 1, tzinfo=zone)
    after = first + timedelta(days=calendar.monthrange(year, number)[1])
    params = {"start": [str(int(first.timestamp()))], "end": [str(int(after.timestamp()))], "max": ["1000"]}
    by_day: dict[int, list[dict[str, Any]]] = {}
    for event in queries.list_events(db, queries.parse_listing(params)):
        day = event_day(event, zone)
        if (day.year, day.month) == (year, number):
            by_day.setdefault(day.day, []).append(event)
    return {
        "year": year,
        "month": number,
        "month_name": first.strftime("%B %Y"),
        "weeks": calendar.Calendar(firstweekday=0).monthdayscalendar(year, number),
        "by_day": by_day,
        "weekdays": [(calendar.day_abbr[i], calendar.day_name[i]) for i in range(7)],
        "previous": _shift(year, number, -1),
        "next": _shift(year, number, 1),
        "today": datetime.now(zone).date(),
    }


@router.get("/calendar")
async def month_calendar(request: Request, month: str | None = None) -> Response:
    try:
        layout, data = await load(request, _calendar_data, month)
    except Invalid as exc:
        return await error_page(request, exc.message, exc.status)
    assert data is not None  # noqa: S101
    return render(request, "calendar.html", layout, **data)


# --- one event ----------------------------------------------------------------------------------------


def _event_data(db: Session, layout: Layout, slug_or_id: str) -> dict[str, Any]:
    visitor = layout.visitor
    event, _ = queries.get_event_detail(
        db,
        slug_or_id,
        user_id=visitor.id if visitor else None,
        is_moderator=visitor.is_moderator if visitor else False,
    )
    return event


@router.get("/event/{slug_or_id}")
async def event_page(request: Request, slug_or_id: str) -> Response:
    if wants_activity_json(request.headers.get("accept")):
        # An ActivityPub client (Mastodon resolving a link) gets the event's object (§1.2).
        base_url = str(request.app.state.config.base_url).rstrip("/")
        try:
            document = await request.app.state.db.read_small(load_event_object_by_slug, base_url, slug_or_id)
        except FederationDisabled:
            pass  # no federation: the page, as for anyone
        else:
            return activity_json(document, headers={"Vary": "Accept"})
    try:
        layout, event = await load(request, _event_data, slug_or_id)
    except NotFound:
        return await error_page(request, "This event does not exist, or is not public.", 404)
    assert event is not None  # noqa: S101
    base = str(layout.settings["baseurl"])
    media = event["media"][0] if event.get("media") else None
    image_url = f"{base}/media/{media['url']}" if media else f"{base}/fallbackimage.png"
    visitor = layout.visitor
    may_edit = visitor is not None and (visitor.is_moderator or event.get("isMine"))
    response = render(
        request,
        "event.html",
        layout,
        event=event,
        media=media,
        image_url=image_url,
        event_url=f"{base}/event/{event['slug'] or event['id']}",
        may_edit=may_edit,
    )
    response.headers.append("Vary", "Accept")  # the same URL answers ActivityPub clients with JSON
    return response


# --- static pages -------------------------------------------------------------------------------------


def _page_data(db: Session, layout: Layout, slug: str) -> dict[str, Any]:
    return visible_page(db, slug)


@router.get("/p/{slug}")
async def static_page(request: Request, slug: str) -> Response:
    try:
        layout, page = await load(request, _page_data, slug)
    except NotFound:
        return await error_page(request, "This page does not exist.", 404)
    return render(request, "page.html", layout, page=page)
