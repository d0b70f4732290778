"""`/feed/{format}/collection/{name}` (gancio-api.md §5.11): RSS and ICS parsed back, and JSON."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import httpx
import pytest
from icalendar import Calendar

from tests.factories import insert_event, make_collection, make_place

NOW = int(time.time())
DAY = 86400


@pytest.fixture
def jazz(db):
    hall = make_place(db, "Hall", "Via Roma 1")
    insert_event(
        db, "Jazz night", start=NOW + DAY, place_id=hall, tags=("jazz",), slug="jazz-night",
        description="<p>Bring <b>friends</b></p>",
    )  # fmt: skip
    insert_event(db, "Jazz brunch", start=NOW + 2 * DAY, tags=("jazz",), slug="jazz-brunch")
    insert_event(db, "Rock", start=NOW + DAY, tags=("rock",), slug="rock")
    make_collection(db, "Jazz & more", {"tags": ["jazz"]})
    return "Jazz%20%26%20more"


def test_json_feed_lists_the_collection_events(client, jazz):
    response = client.get(f"/feed/json/collection/{jazz}")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert [e["title"] for e in response.json()] == ["Jazz night", "Jazz brunch"]
    assert response.json()[0]["tags"] == ["jazz"]
    assert response.json() == client.get(f"/api/collections/{jazz}").json()


def test_feed_of_an_unknown_collection_is_404(client):
    for fmt in ("json", "rss", "ics"):
        assert client.get(f"/feed/{fmt}/collection/nothing").status_code == 404


def test_feed_with_an_unknown_format_is_404_with_gancio_text(client, jazz):
    response = client.get(f"/feed/pdf/collection/{jazz}")
    assert response.status_code == 404
    assert response.text == "Please specify a valid format: rss, feed, ics or json"


def test_feed_honours_the_collection_parameters(client, jazz):
    response = client.get(f"/feed/json/collection/{jazz}", params={"reverse": "true", "max": "1"})
    assert [e["title"] for e in response.json()] == ["Jazz brunch"]


@pytest.mark.parametrize("fmt", ["rss", "feed"])
def test_rss_feed_parses_back_with_the_collection_title(client, jazz, fmt):
    response = client.get(f"/feed/{fmt}/collection/{jazz}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    assert response.headers["access-control-allow-origin"] == "*"
    channel = ET.fromstring(response.content).find("channel")  # noqa: S314  (our own output)
    assert channel.findtext("title") == "Piazza - Collection @Jazz & more"
    atom = "{http://www.w3.org/2005/Atom}link"
    assert channel.find(atom).get("href") == f"http://testserver/feed/rss/collection/{jazz}"
    items = channel.findall("item")
    assert [item.findtext("link") for item in items] == [
        "http://testserver/event/jazz-night",
        "http://testserver/event/jazz-brunch",
    ]
    assert "Jazz night" in items[0].findtext("title")
    assert [c.text for c in items[0].findall("category")] == ["jazz"]


def test_ics_feed_parses_back(client, jazz):
    response = client.get(f"/feed/ics/collection/{jazz}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Jazz night", "Jazz brunch"]
    assert int(events[0].decoded("dtstart").timestamp()) == NOW + DAY
    assert str(events[0]["location"]).startswith("Hall")
    assert str(Calendar.from_ical(response.content)["x-wr-calname"]) == "Piazza - Collection @Jazz & more"
    assert "friends" in str(events[0]["description"])


def test_collection_over_real_http(live_server):

    db = live_server.app.state.db
    insert_event(db, "Jazz night", start=NOW + DAY, tags=("jazz",))
    make_collection(db, "jazz", {"tags": ["jazz"]})
    with httpx.Client(base_url=live_server.url) as http:
        events = http.get("/feed/json/collection/jazz").json()
        listed = http.get("/api/collections", params={"withFilters": "true"}).json()
    assert [e["title"] for e in events] == ["Jazz night"]
    assert listed[0]["filters"][0]["tags"] == ["jazz"]
