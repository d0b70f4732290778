"""Feed routes (gancio-api.md §5.11): selection, content types, CORS, and ICS parsed back."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from piazza.events.models import Event
from tests.factories import make_event, make_user

NOW = int(time.time()) // 60 * 60
DAY = 86400


@pytest.fixture
def events(db):
    author = make_user(db)
    jazz = make_event(
        db,
        author,
        title="Jazz",
        start=NOW + DAY,
        end=NOW + DAY + 7200,
        tags=["music", "jazz"],
        place_name="Club",
        place_address="Blue St",
        description='<p>Live <a href="https://band.example">band</a></p>',
    )
    make_event(db, author, title="Talk", start=NOW + 2 * DAY, tags=["talk"], place_name="Library")
    make_event(db, author, title="Old", start=NOW - 3 * DAY)
    make_event(db, None, title="Hidden", start=NOW + DAY)
    return jazz


def ics_events(text: str):
    calendar = Calendar.from_ical(text)
    return [c for c in calendar.walk("VEVENT")]


def test_ics_feed_is_valid_with_one_vevent_per_event_and_stable_uids(client, events):
    first = client.get("/feed/ics")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/calendar; charset=utf-8"
    assert first.headers["access-control-allow-origin"] == "*"
    vevents = ics_events(first.text)
    assert [str(v["summary"]) for v in vevents] == ["Jazz", "Talk"]
    jazz = vevents[0]
    assert jazz["dtstart"].dt == datetime.fromtimestamp(NOW + DAY, UTC)
    assert jazz["dtend"].dt == datetime.fromtimestamp(NOW + DAY + 7200, UTC)
    assert str(jazz["location"]) == "Club - Blue St"
    assert "band [https://band.example]" in str(jazz["description"])
    second = ics_events(client.get("/api/export/ics").text)
    assert [str(v["uid"]) for v in vevents] == [str(v["uid"]) for v in second]
    assert str(jazz["uid"]) == f"{events['id']}@testserver"


def test_rss_feed(client, events):
    response = client.get("/feed/rss")
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    root = ET.fromstring(response.content)  # noqa: S314  (our own feed, from our own server)
    items = root.findall("./channel/item")
    assert len(items) == 2
    assert "Jazz" in items[0].findtext("title")
    assert {c.text for c in items[0].findall("category")} == {"music", "jazz"}
    assert client.get("/feed/feed").headers["content-type"].startswith("application/rss+xml")


def test_json_export_has_the_e_export_shape(client, events):
    response = client.get("/api/export/json")
    assert response.headers["access-control-allow-origin"] == "*"
    jazz = response.json()[0]
    assert jazz["tags"] == [{"tag": "music"}, {"tag": "jazz"}]
    assert set(jazz["place"]) == {"name", "id", "address"}
    assert "is_visible" not in jazz and "userId" not in jazz and "description" in jazz
    assert isinstance(jazz["updatedAt"], str)


def test_feed_filters_by_tags_and_places(client, events):
    assert [e["title"] for e in client.get("/feed/json", params={"tags": "talk"}).json()] == ["Talk"]
    params = {"places": str(events["place"]["id"])}
    assert [e["title"] for e in client.get("/feed/json", params=params).json()] == ["Jazz"]


def test_feed_includes_events_from_the_last_day(client, db):
    make_event(db, make_user(db), title="This morning", start=NOW - 3600)
    assert [e["title"] for e in client.get("/feed/json").json()] == ["This morning"]


def test_occurrences_only_with_show_recurrent(client, db, events):
    child = make_event(db, make_user(db), title="Child", start=NOW + 3 * DAY)
    with db.session() as s:
        s.get(Event, child["id"]).parent_id = events["id"]
    assert "Child" not in [e["title"] for e in client.get("/feed/json").json()]
    assert "Child" in [
        e["title"] for e in client.get("/feed/json", params={"show_recurrent": "false"}).json()
    ]


def test_unknown_format_is_404_with_gancios_text(client):
    response = client.get("/feed/xml")
    assert (response.status_code, response.text) == (
        404,
        "Please specify a valid format: rss, feed, ics or json",
    )


def test_tag_feed(client, events):
    vevents = ics_events(client.get("/feed/ics/tag/music").text)
    assert [str(v["summary"]) for v in vevents] == ["Jazz"]
    rss = ET.fromstring(client.get("/feed/rss/tag/music").content)  # noqa: S314
    assert rss.findtext("./channel/title").endswith("Tag #music")
    assert [e["title"] for e in client.get("/feed/other/tag/music").json()] == ["Jazz"]
    assert client.get("/feed/ics/tag/nope").status_code == 404


def test_place_feed(client, events):
    place_id = events["place"]["id"]
    assert [str(v["summary"]) for v in ics_events(client.get(f"/feed/ics/place/{place_id}").text)] == ["Jazz"]
    as_json = client.get("/feed/json/place/Club").json()
    assert as_json["place"]["name"] == "Club" and [e["title"] for e in as_json["events"]] == ["Jazz"]
    assert client.get("/feed/rss/place/Nowhere").status_code == 404


def test_detail_ics_has_one_event_with_an_alarm(client, events):
    response = client.get(f"/api/event/detail/{events['slug']}.ics")
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    (vevent,) = ics_events(response.text)
    assert str(vevent["summary"]) == "Jazz"
    (alarm,) = vevent.walk("VALARM")
    assert str(alarm["action"]) == "DISPLAY"
