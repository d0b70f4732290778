"""`collection_in_home`: the home listing and the general feeds show a collection (§5.10, §5.11)."""

import time

import icalendar
import pytest

from piazza.instance.settings import set_setting
from tests.factories import make_collection, make_event, make_user

DAY = 86400


@pytest.fixture
def agenda(db):
    author = make_user(db, "author@example.org")
    now = int(time.time())
    make_event(db, author, title="Concert", start=now + DAY, tags=["music"])
    make_event(db, author, title="Market", start=now + 2 * DAY, tags=["food"])
    make_collection(db, "Music", {"tags": ["music"]})
    return author


def _home(db, name):
    with db.session() as s:
        set_setting(s, "collection_in_home", name)


def test_without_a_home_collection_the_listing_is_the_agenda(client, agenda):
    assert [e["title"] for e in client.get("/api/events").json()] == ["Concert", "Market"]


def test_home_collection_replaces_the_plain_listing(client, db, agenda):
    _home(db, "Music")
    events = client.get("/api/events").json()
    assert [e["title"] for e in events] == ["Concert"]
    assert "ap_user" in events[0]  # the E-collection shape
    assert client.get("/api/events", params={"max": 1}).json()[0]["title"] == "Concert"


def test_home_collection_does_not_apply_to_filtered_listings(client, db, agenda):
    _home(db, "Music")
    assert [e["title"] for e in client.get("/api/events", params={"tags": "food"}).json()] == ["Market"]
    assert [e["title"] for e in client.get("/api/events", params={"query": "mark"}).json()] == ["Market"]


def test_home_collection_feeds_the_general_rss_and_ics(client, db, agenda):
    _home(db, "Music")
    ics = icalendar.Calendar.from_ical(client.get("/feed/ics").content)
    assert [str(e["SUMMARY"]) for e in ics.walk("VEVENT")] == ["Concert"]
    rss = client.get("/feed/rss").text
    assert "Concert" in rss
    assert "Market" not in rss
    assert "Collection @Music" in rss


def test_feed_collection_parameter_picks_a_collection(client, db, agenda):
    make_collection(db, "Food", {"tags": ["food"]})
    ics = icalendar.Calendar.from_ical(client.get("/feed/ics", params={"collection": "Food"}).content)
    assert [str(e["SUMMARY"]) for e in ics.walk("VEVENT")] == ["Market"]
    assert [e["title"] for e in client.get("/feed/json", params={"collection": "Food"}).json()] == ["Market"]


def test_unknown_feed_collection_is_404(client, agenda):
    assert client.get("/feed/rss", params={"collection": "Nope"}).status_code == 404


def test_missing_media_file_redirects_to_the_fallback_image(client):
    response = client.get("/media/" + "a" * 32 + ".jpg", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/fallbackimage.png"
