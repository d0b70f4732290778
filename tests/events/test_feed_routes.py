"""Feed routes (gancio-api.md §5.11): selection, content types, CORS, and ICS parsed back."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from piazza.events.models import Event
from piazza.events.queries import export_to_wire, feed_event, feed_statement
from piazza.events.wire import Shape, event_to_wire
from piazza.instance.settings import set_setting
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


@pytest.mark.parametrize("with_place", [True, False])
def test_feed_events_export_as_event_to_wire_writes_e_export(with_place: bool):
    """`feed_event` writes the E-export keys itself; `export_to_wire` must give event_to_wire's JSON."""
    row = {
        "id": 7, "title": "T", "slug": "t", "description": "<p>D</p>", "multidate": None,
        "start_datetime": NOW, "end_datetime": None, "image_path": None, "media": None,
        "online_locations": ["https://x.example"], "ap_object": None, "ap_id": None,
        "updated_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "ap_user_ap_id": None,
        "parent_id": 3, "place_id": 5 if with_place else None, "place_name": "P", "place_address": "A",
        "place_latitude": 1.5, "place_longitude": None,
    }  # fmt: skip
    expected = event_to_wire(row, ["a", "b"], Shape.EXPORT)
    assert list(export_to_wire(feed_event(row, ["a", "b"])).items()) == list(expected.items())


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


def test_feeds_follow_the_stored_settings(client, db, events):
    with db.session() as s:
        set_setting(s, "title", "Agenda di quartiere")
        set_setting(s, "description", "Cosa succede")
        set_setting(s, "instance_timezone", "America/New_York")
        set_setting(s, "instance_locale", "it")
    channel = ET.fromstring(client.get("/feed/rss").content).find("channel")  # noqa: S314  (our own feed)
    assert channel.findtext("title") == "Agenda di quartiere"
    assert channel.findtext("description") == "Cosa succede"
    assert channel.findtext("language") == "it"
    day = datetime.fromtimestamp(NOW + DAY, ZoneInfo("America/New_York")).strftime("%Y-%m-%d")
    assert channel.find("item").findtext("title").startswith(f"[{day}] Jazz")
    for url in ("/feed/ics", f"/api/event/detail/{events['slug']}.ics"):
        calendar = Calendar.from_ical(client.get(url).text)
        assert str(calendar["x-wr-calname"]) == "Agenda di quartiere"
        assert str(calendar["x-wr-caldesc"]) == "Cosa succede"


def test_the_default_feed_is_one_index_range(db):
    """Visible events that are not occurrences, from a day back, come off ix_events_visible_parent_start
    in (start, id) order: no sort, and the thousands of hidden occurrences of a large agenda are never
    read (issue 7)."""
    if not db.is_sqlite:
        pytest.skip("SQLite's query plan")
    for has_limit in (False, True):
        stmt = feed_statement(show_recurrent=False, has_tags=False, has_places=False, has_limit=has_limit)
        with db.read_engine.connect() as conn:
            compiled = stmt.compile(dialect=conn.dialect)
            values = {**compiled.params, "since": NOW, "limit": 20}
            args = tuple(values[name] for name in compiled.positiontup)
            plan = "\n".join(
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), args)
            )
        assert "ix_events_visible_parent_start (is_visible=? AND parent_id=? AND start_datetime>?)" in plan
        assert "TEMP B-TREE" not in plan
