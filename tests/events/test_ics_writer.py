"""The hand-written ICS writer produces, byte for byte, what icalendar's object model writes.

`feeds.render_ics` writes content lines directly because icalendar cost about 2 ms an event (docs,
"Benchmarks"). Here icalendar builds the same calendar the way the writer used to, and the two
outputs must be equal, for ordinary events and for text that stresses escaping and folding.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Alarm, Calendar, Event, vText

from piazza.events.feeds import (
    ICS_PRODID,
    clean_text,
    event_url,
    location_text,
    render_ics,
)
from tests.events.test_feeds_render import NOW, SETTINGS, make_event

NOW_TS = int(NOW.timestamp())


def icalendar_rendering(
    events: list[dict[str, Any]], *, alarm: bool = False, calendar_name: str | None = None
) -> str:
    """The calendar as icalendar writes it: the oracle for render_ics."""
    calendar = Calendar()
    calendar.add("prodid", ICS_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-published-ttl", vText("PT1H"))
    calendar.add("x-wr-calname", vText(clean_text(calendar_name or SETTINGS["title"])))
    calendar.add("x-wr-caldesc", vText(clean_text(SETTINGS["description"])))
    for event in events:
        vevent = Event()
        vevent.add("uid", f"{event['id']}@{SETTINGS['hostname']}")
        vevent.add("dtstamp", NOW)
        title = clean_text(event.get("title"))
        vevent.add("summary", title)
        vevent.add("dtstart", datetime.fromtimestamp(event["start_datetime"], UTC))
        if event.get("end_datetime") is not None:
            vevent.add("dtend", datetime.fromtimestamp(event["end_datetime"], UTC))
        vevent.add("last-modified", event["updatedAt"].astimezone(UTC).replace(microsecond=0))
        if clean_text(event.get("plain_description")):
            vevent.add("description", clean_text(event.get("plain_description")))
        vevent.add("url", event_url(event, SETTINGS))
        if location_text(event):
            vevent.add("location", location_text(event))
        vevent.add("status", "CONFIRMED")
        tags = [tag for tag in (clean_text(t) for t in event.get("tags") or []) if tag]
        if tags:
            vevent.add("categories", tags)
        if clean_text(event.get("description")):
            vevent.add(
                "x-alt-desc", vText(clean_text(event["description"])), parameters={"FMTTYPE": "text/html"}
            )
        place = event.get("place") or {}
        if place.get("latitude") is not None and place.get("longitude") is not None:
            vevent.add("geo", (float(place["latitude"]), float(place["longitude"])))
        if alarm:
            reminder = Alarm()
            reminder.add("action", "DISPLAY")
            reminder.add("description", title or "Reminder")
            reminder.add("trigger", timedelta(hours=-1))
            vevent.add_component(reminder)
        calendar.add_component(vevent)
    return calendar.to_ical().decode("utf-8")


TRICKY = [
    make_event(),
    make_event(id=8, title="Semicolons; commas, and a back\\slash", tags=["a,b", "c;d"], end_datetime=None),
    make_event(id=9, title="Ünïcödé " * 20, description="<p>" + "€" * 80 + "</p>", place=None),
    make_event(id=10, plain_description="line one\nline two\r\nline three\rfour", tags=[]),
    make_event(id=11, title="x" * 73 + "\\,", plain_description="y" * 74 + ";" + "z" * 200),
    make_event(
        id=12, title="", online_locations=["https://meet.example/room"], place={"id": 1, "name": "online"}
    ),
    make_event(id=13, title="emoji 🎉 " * 15, place={"id": 2, "name": "Hall", "latitude": 0, "longitude": 0}),
    # Long texts: the last test writes it without the memo.
    make_event(id=14, description="<p>" + "words, more; " * 200 + "</p>", plain_description="words " * 300),
]


@pytest.mark.parametrize("alarm", [False, True])
def test_ics_writer_matches_icalendar_byte_for_byte(alarm: bool) -> None:
    assert render_ics(TRICKY, settings=SETTINGS, now=NOW, alarm=alarm) == icalendar_rendering(
        TRICKY, alarm=alarm
    )


@pytest.mark.parametrize("event", TRICKY, ids=lambda e: str(e["id"]))
def test_each_tricky_event_is_written_as_icalendar_writes_it(event: dict[str, Any]) -> None:
    assert render_ics([event], settings=SETTINGS, now=NOW) == icalendar_rendering([event])


def test_a_named_calendar_matches_icalendar() -> None:
    written = render_ics([], settings=SETTINGS, now=NOW, calendar_name="Jazz, soul; more")
    assert written == icalendar_rendering([], calendar_name="Jazz, soul; more")


def test_an_event_too_long_for_the_memo_is_written_all_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from piazza.events import feeds

    monkeypatch.setattr(feeds._vevents, "max_chars", 32_000)  # entries of at most 2,000 characters
    feeds._vevents.clear()
    long_one = TRICKY[-1]
    assert render_ics([long_one], settings=SETTINGS, now=NOW) == icalendar_rendering([long_one])
    assert len(feeds._vevents) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Renamed"},
        {"slug": "renamed"},
        {"start_datetime": NOW_TS},
        {"end_datetime": None},
        {"updatedAt": NOW},
        {"tags": ["music"]},
        {"plain_description": "Other text."},
        {"description": "<p>Other text.</p>"},
        {"place": {"id": 3, "name": "Piazza Maggiore", "address": "Other address"}},
        {"place": {"id": 3, "name": "online"}, "online_locations": ["https://meet.example/a"]},
    ],
    ids=lambda change: ",".join(change),
)
def test_a_changed_event_is_written_anew(change: dict[str, Any]) -> None:
    """VEVENTs are cached by everything they are written from, so any change is written."""
    event = make_event()
    before = render_ics([event], settings=SETTINGS, now=NOW)
    changed = {**event, **change}
    after = render_ics([changed], settings=SETTINGS, now=NOW)
    assert after != before
    assert after == icalendar_rendering([changed])
    assert render_ics([event], settings=SETTINGS, now=NOW) == before


def test_the_same_event_gets_each_exports_dtstamp() -> None:
    event = make_event()
    first = render_ics([event], settings=SETTINGS, now=NOW)
    later = render_ics([event], settings=SETTINGS, now=NOW + timedelta(hours=1))
    assert "DTSTAMP:20261127T180005Z" in first and "DTSTAMP:20261127T190005Z" in later
    assert first.replace("T180005Z", "T190005Z") == later


def test_values_of_unexpected_types_are_written_as_before() -> None:
    """Imported data may hold lists where strings are expected: written as before, just not cached."""
    event = make_event(online_locations=[["https://x.example"]], tags=[["a"]])
    event["place"] = {"id": 1, "name": "online", "latitude": 1.5, "longitude": 2}
    assert render_ics([event], settings=SETTINGS, now=NOW) == icalendar_rendering([event])
