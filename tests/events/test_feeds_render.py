"""RSS and ICS renderings of events (gancio-api.md §5.11), parsed back and checked field by field."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from piazza.events.feeds import render_ics, render_rss

ROME = ZoneInfo("Europe/Rome")
ATOM = "{http://www.w3.org/2005/Atom}"
SETTINGS = {
    "title": "Piazza Bologna",
    "description": "Events in town",
    "baseurl": "https://agenda.example.org",
    "hostname": "agenda.example.org",
    "instance_timezone": "Europe/Rome",
    "instance_locale": "en",
}
SELF_URL = "https://agenda.example.org/feed/rss"
NOW = datetime(2026, 11, 27, 18, 0, 5, tzinfo=UTC)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ROME).timestamp())


def make_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": 7,
        "title": "Concert in the square",
        "slug": "concert-in-the-square",
        "description": '<p>Bring a <a href="https://example.org/chairs">chair</a>.</p>',
        "plain_description": "Bring a chair [https://example.org/chairs].",
        "start_datetime": at("2026-12-04 20:30"),
        "end_datetime": at("2026-12-04 23:00"),
        "multidate": False,
        "media": [],
        "online_locations": [],
        "tags": ["music", "free"],
        "place": {
            "id": 3,
            "name": "Piazza Maggiore",
            "address": "Piazza Maggiore 1, Bologna",
            "latitude": 44.4937,
            "longitude": 11.3430,
        },
        "updatedAt": datetime(2026, 11, 20, 10, 15, 0, tzinfo=UTC),
    }
    event.update(overrides)
    return event


def parse_xml(raw: str) -> ET.Element:
    return ET.fromstring(raw.encode())  # noqa: S314 (our own output; parsing it is the point)


def rss(events: list[dict[str, Any]], *, title: str = "Piazza Bologna", settings: dict = SETTINGS) -> Any:
    return parse_xml(render_rss(events, settings=settings, title=title, self_url=SELF_URL))


def ics(events: list[dict[str, Any]], **kwargs: Any) -> Calendar:
    return Calendar.from_ical(render_ics(events, settings=SETTINGS, now=NOW, **kwargs))


def vevents(calendar: Calendar) -> list[Any]:
    return calendar.walk("VEVENT")


def text(component: Any, name: str) -> str:
    return str(component[name])


def unescape(value: object) -> str:
    """An X- property's TEXT value as written (icalendar leaves unknown properties escaped)."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), str(value))


# --- RSS ----------------------------------------------------------------------------------------


def test_rss_channel_has_title_link_description_and_atom_self_link() -> None:
    document = rss([make_event()], title="Piazza Bologna - Tag #music")
    assert document.tag == "rss" and document.get("version") == "2.0"
    channel = document.find("channel")
    assert channel.findtext("title") == "Piazza Bologna - Tag #music"
    assert channel.findtext("link") == "https://agenda.example.org"
    assert channel.findtext("description") == "Events in town"
    assert channel.findtext("language") == "en"
    self_link = channel.find(f"{ATOM}link")
    assert (self_link.get("href"), self_link.get("rel")) == (SELF_URL, "self")
    assert self_link.get("type") == "application/rss+xml"


def test_rss_declares_the_atom_namespace() -> None:
    raw = render_rss([], settings=SETTINGS, title="t", self_url=SELF_URL)
    assert 'xmlns:atom="http://www.w3.org/2005/Atom"' in raw
    assert rss([]).find("channel").findall("item") == []


def test_rss_item_fields() -> None:
    item = rss([make_event()]).find("channel/item")
    assert item.findtext("title") == "[2026-12-04] Concert in the square @ Piazza Maggiore"
    assert item.findtext("link") == "https://agenda.example.org/event/concert-in-the-square"
    guid = item.find("guid")
    assert guid.text == "https://agenda.example.org/event/concert-in-the-square"
    assert guid.get("isPermaLink") == "true"
    assert [category.text for category in item.findall("category")] == ["music", "free"]
    assert parsedate_to_datetime(item.findtext("pubDate")) == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert item.find("enclosure") is None


def test_rss_description_follows_gancios_layout_in_cdata() -> None:
    raw = render_rss([make_event()], settings=SETTINGS, title="t", self_url=SELF_URL)
    assert "<description><![CDATA[<h3>Concert in the square</h3>" in raw
    description = rss([make_event()]).findtext("channel/item/description")
    assert description == (
        "<h3>Concert in the square</h3>"
        "<strong>Piazza Maggiore - Piazza Maggiore 1, Bologna</strong>"
        "<br/><small>(Friday, 4 December 20:30)</small><br/>"
        '<p>Bring a <a href="https://example.org/chairs">chair</a>.</p>'
    )


def test_rss_channel_without_title_or_description_falls_back_to_the_instance() -> None:
    channel = rss([], title="", settings=dict(SETTINGS, description="")).find("channel")
    assert channel.findtext("title") == "Piazza Bologna"
    assert channel.findtext("description") == "Piazza Bologna"


def test_rss_items_keep_the_given_order() -> None:
    events = [make_event(id=1, slug="a", title="first"), make_event(id=2, slug="b", title="second")]
    titles = [item.findtext("title") for item in rss(events).findall("channel/item")]
    assert [title.split("] ")[1].split(" @")[0] for title in titles] == ["first", "second"]


def test_rss_link_falls_back_to_the_id_without_slug() -> None:
    item = rss([make_event(slug=None)]).find("channel/item")
    assert item.findtext("link") == "https://agenda.example.org/event/7"


def test_rss_media_becomes_an_enclosure_and_an_image() -> None:
    media = [
        {
            "url": "3f2a.jpg",
            "height": 600,
            "width": 800,
            "name": "Poster",
            "size": 48213,
            "focalpoint": [0, 0],
        }
    ]
    item = rss([make_event(media=media)]).find("channel/item")
    enclosure = item.find("enclosure")
    assert enclosure.attrib == {
        "url": "https://agenda.example.org/media/3f2a.jpg",
        "length": "48213",
        "type": "image/jpeg",
    }
    image = '<img alt="Poster" src="https://agenda.example.org/media/3f2a.jpg"/>'
    assert image in item.findtext("description")


def test_rss_hostile_title_is_text_not_markup() -> None:
    hostile = '<script>alert("x")</script> & ]]> <b>bold</b>'
    raw = render_rss([make_event(title=hostile)], settings=SETTINGS, title=hostile, self_url=SELF_URL)
    assert "<script>" not in raw.split("<![CDATA[")[0]
    document = parse_xml(raw)
    assert document.findtext("channel/title") == hostile
    item = document.find("channel/item")
    assert item.findtext("title") == f"[2026-12-04] {hostile} @ Piazza Maggiore"
    description = item.findtext("description")
    # Inside the HTML of the description the title is escaped, so readers show it as text.
    assert description.startswith("<h3>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; ]]&gt; ")
    assert "<script>" not in description


def test_rss_cdata_terminator_in_description_cannot_close_the_section() -> None:
    event = make_event(description="<p>before ]]></description><injected/> after</p>")
    raw = render_rss([event], settings=SETTINGS, title="t", self_url=SELF_URL)
    item = parse_xml(raw).find("channel/item")
    assert item.find("injected") is None
    assert item.findtext("description").endswith("<p>before ]]&gt;</description><injected/> after</p>")


def test_rss_drops_control_characters_that_xml_cannot_carry() -> None:
    event = make_event(title="bell\x07 and nul\x00 \ud800", tags=["t\x1b", "\x00"], description="<p>\x0c</p>")
    item = rss([event]).find("channel/item")
    assert item.findtext("title").startswith("[2026-12-04] bell and nul  @")
    assert [category.text for category in item.findall("category")] == ["t"]
    assert item.findtext("description").endswith("<p></p>")


def test_rss_unicode_survives() -> None:
    event = make_event(title="Fête ☕ 音楽", place={"id": 1, "name": "Caffè Ñandú", "address": "Via Ørsted"})
    item = rss([event]).find("channel/item")
    assert item.findtext("title") == "[2026-12-04] Fête ☕ 音楽 @ Caffè Ñandú"
    assert "<strong>Caffè Ñandú - Via Ørsted</strong>" in item.findtext("description")


def test_rss_online_event_links_its_first_location() -> None:
    event = make_event(
        place={"id": 9, "name": "online", "address": "online"},
        online_locations=["https://meet.example/room?a=1&b=2", "https://other.example"],
    )
    description = rss([event]).findtext("channel/item/description")
    assert '<strong>online - <a href="https://meet.example/room?a=1&amp;b=2">' in description


def test_rss_online_location_that_is_not_a_web_url_is_not_a_link() -> None:
    event = make_event(place=None, online_locations=['javascript:alert(1)"'])
    item = rss([event]).find("channel/item")
    assert "<strong>online - javascript:alert(1)&quot;</strong>" in item.findtext("description")
    assert item.findtext("title") == "[2026-12-04] Concert in the square"


def test_rss_place_without_address_shows_only_its_name() -> None:
    event = make_event(place={"id": 3, "name": "The park", "address": None})
    assert "<strong>The park</strong>" in rss([event]).findtext("channel/item/description")


def test_rss_dates_use_the_instance_time_zone() -> None:
    # 23:30 UTC on 31 December is already 1 January in Rome.
    event = make_event(start_datetime=int(datetime(2026, 12, 31, 23, 30, tzinfo=UTC).timestamp()))
    item = rss([event]).find("channel/item")
    assert item.findtext("title").startswith("[2027-01-01]")
    assert "(Friday, 1 January 00:30)" in item.findtext("description")
    new_york = dict(SETTINGS, instance_timezone="America/New_York")
    item = rss([event], settings=new_york).find("channel/item")
    assert item.findtext("title").startswith("[2026-12-31]")
    assert "(Thursday, 31 December 18:30)" in item.findtext("description")


def test_rss_local_time_follows_dst() -> None:
    summer = make_event(start_datetime=at("2026-07-01 21:00"))
    winter = make_event(start_datetime=at("2026-12-01 21:00"))
    descriptions = [item.findtext("description") for item in rss([summer, winter]).findall("channel/item")]
    assert "(Wednesday, 1 July 21:00)" in descriptions[0]
    assert "(Tuesday, 1 December 21:00)" in descriptions[1]


# --- ICS ----------------------------------------------------------------------------------------


def test_ics_calendar_properties() -> None:
    calendar = ics([make_event()])
    assert text(calendar, "VERSION") == "2.0"
    assert text(calendar, "CALSCALE") == "GREGORIAN"
    assert text(calendar, "METHOD") == "PUBLISH"
    assert "Piazza" in text(calendar, "PRODID")
    assert text(calendar, "X-PUBLISHED-TTL") == "PT1H"
    assert text(calendar, "X-WR-CALNAME") == "Piazza Bologna"


def test_ics_event_fields() -> None:
    (vevent,) = vevents(ics([make_event()]))
    assert text(vevent, "UID") == "7@agenda.example.org"
    assert text(vevent, "SUMMARY") == "Concert in the square"
    assert vevent.decoded("DTSTAMP") == NOW
    assert vevent.decoded("DTSTART") == datetime(2026, 12, 4, 19, 30, tzinfo=UTC)
    assert vevent.decoded("DTEND") == datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
    assert vevent.decoded("LAST-MODIFIED") == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert text(vevent, "DESCRIPTION") == "Bring a chair [https://example.org/chairs]."
    assert text(vevent, "URL") == "https://agenda.example.org/event/concert-in-the-square"
    assert text(vevent, "LOCATION") == "Piazza Maggiore - Piazza Maggiore 1, Bologna"
    assert text(vevent, "STATUS") == "CONFIRMED"
    assert [str(tag) for tag in vevent.categories] == ["music", "free"]
    assert vevent["X-ALT-DESC"].params["FMTTYPE"] == "text/html"
    assert unescape(vevent["X-ALT-DESC"]) == make_event()["description"]
    assert vevent.decoded("GEO") == (44.4937, 11.343)
    assert vevent.walk("VALARM") == []


def test_ics_times_are_utc_on_the_wire() -> None:
    raw = render_ics([make_event()], settings=SETTINGS, now=NOW)
    assert "\r\nDTSTART:20261204T193000Z\r\n" in raw
    assert "\r\nDTEND:20261204T220000Z\r\n" in raw
    assert "\r\nDTSTAMP:20261127T180005Z\r\n" in raw


def test_ics_uid_is_stable_across_exports() -> None:
    first = render_ics([make_event()], settings=SETTINGS)
    later = render_ics([make_event(title="Renamed")], settings=SETTINGS, now=NOW + timedelta(days=3))
    uids = [re.findall(r"^UID:(.*)\r$", document, re.M) for document in (first, later)]
    assert uids == [["7@agenda.example.org"], ["7@agenda.example.org"]]


def test_ics_one_vevent_per_event() -> None:
    events = [make_event(id=n, slug=f"e{n}") for n in (1, 2, 3)]
    assert [text(vevent, "UID") for vevent in vevents(ics(events))] == [
        "1@agenda.example.org",
        "2@agenda.example.org",
        "3@agenda.example.org",
    ]


def test_ics_event_without_end_has_no_dtend() -> None:
    (vevent,) = vevents(ics([make_event(end_datetime=None)]))
    assert "DTEND" not in vevent


def test_ics_place_without_address_or_coordinates() -> None:
    (vevent,) = vevents(ics([make_event(place={"id": 3, "name": "The park", "address": ""})]))
    assert text(vevent, "LOCATION") == "The park"
    assert "GEO" not in vevent


def test_ics_coordinates_of_zero_are_still_coordinates() -> None:
    place = {"id": 3, "name": "Null Island", "address": "sea", "latitude": 0.0, "longitude": 0.0}
    (vevent,) = vevents(ics([make_event(place=place)]))
    assert vevent.decoded("GEO") == (0.0, 0.0)


def test_ics_online_event_location_is_the_first_online_location() -> None:
    event = make_event(
        place={"id": 9, "name": "online", "address": "online"},
        online_locations=["https://meet.example/room", "https://other.example"],
    )
    (vevent,) = vevents(ics([event]))
    assert text(vevent, "LOCATION") == "online - https://meet.example/room"


def test_ics_event_without_tags_description_or_place() -> None:
    event = make_event(tags=[], description="", plain_description="", place=None)
    (vevent,) = vevents(ics([event]))
    for absent in ("CATEGORIES", "DESCRIPTION", "X-ALT-DESC", "LOCATION", "GEO"):
        assert absent not in vevent


def test_ics_alarm_one_hour_before_for_a_single_event_export() -> None:
    (vevent,) = vevents(ics([make_event()], alarm=True))
    (alarm,) = vevent.walk("VALARM")
    assert text(alarm, "ACTION") == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(hours=-1)
    assert text(alarm, "DESCRIPTION") == "Concert in the square"


def test_ics_escapes_hostile_text_and_keeps_it_intact() -> None:
    hostile = "Line one\nEND:VEVENT\r\nBEGIN:VEVENT;x=1,2 \\ <script>"
    event = make_event(
        title=hostile, plain_description=hostile, description=f"<p>{hostile}</p>", tags=["a,b", "c;d"]
    )
    raw = render_ics([event], settings=SETTINGS, now=NOW)
    assert re.findall(r"^((?:BEGIN|END):VEVENT)\r$", raw, re.M) == ["BEGIN:VEVENT", "END:VEVENT"]
    (vevent,) = vevents(Calendar.from_ical(raw))
    expected = hostile.replace("\r\n", "\n")  # one line-end convention in TEXT values
    assert text(vevent, "SUMMARY") == expected
    assert text(vevent, "DESCRIPTION") == expected
    assert unescape(vevent["X-ALT-DESC"]) == f"<p>{expected}</p>"
    assert [str(tag) for tag in vevent.categories] == ["a,b", "c;d"]


def test_ics_drops_control_characters() -> None:
    raw = render_ics([make_event(title="nul\x00 esc\x1b")], settings=SETTINGS, now=NOW)
    assert "\x00" not in raw and "\x1b" not in raw
    assert text(vevents(Calendar.from_ical(raw))[0], "SUMMARY") == "nul esc"


def test_ics_long_unicode_lines_are_folded_at_75_octets() -> None:
    title = "Fête de la musique ☕ 音楽 " * 8
    raw = render_ics([make_event(title=title)], settings=SETTINGS, now=NOW)
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))
    assert text(vevents(Calendar.from_ical(raw))[0], "SUMMARY") == title


def test_ics_times_across_dst_are_exact_utc_instants() -> None:
    # 08:00 in Rome is 07:00 UTC in winter and 06:00 UTC in summer.
    winter = make_event(id=1, start_datetime=at("2026-03-28 08:00"), end_datetime=None)
    summer = make_event(id=2, start_datetime=at("2026-03-29 08:00"), end_datetime=None)
    starts = [vevent.decoded("DTSTART") for vevent in vevents(ics([winter, summer]))]
    assert starts == [datetime(2026, 3, 28, 7, 0, tzinfo=UTC), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)]


def test_ics_calendar_name_can_be_given() -> None:
    assert text(ics([], calendar_name="Piazza Bologna - Tag #music"), "X-WR-CALNAME") == (
        "Piazza Bologna - Tag #music"
    )


@pytest.mark.parametrize("timezone", ["", None])
def test_missing_instance_time_zone_means_rome(timezone: str | None) -> None:
    event = make_event(start_datetime=int(datetime(2026, 12, 31, 23, 30, tzinfo=UTC).timestamp()))
    document = rss([event], settings=dict(SETTINGS, instance_timezone=timezone))
    assert document.findtext("channel/item/title").startswith("[2027-01-01]")
