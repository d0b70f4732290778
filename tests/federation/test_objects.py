"""The AS2 Event and Place objects and the Accept negotiation on /event/<slug> (gancio-federation.md §4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from piazza.db import Database
from piazza.events.models import Event, Place
from tests.factories import make_event, make_user
from tests.federation.conftest import set_settings

BASE = "http://testserver"
ACTOR = f"{BASE}/federation/u/events"
AP = "application/activity+json; charset=utf-8"
MASTODON_ACCEPT = (
    'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams", '
    "text/html;q=0.1"
)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# 2025-12-31 20:00 and 23:00 in Europe/Rome (UTC+1)
START = int(datetime(2025, 12, 31, 19, 0, tzinfo=UTC).timestamp())
END = START + 3 * 3600


def _jazz(db: Database, **fields: object) -> dict:
    user = make_user(db, "author@example.org", role="admin")
    event = make_event(
        db,
        user,
        title="Jazz night",
        start=START,
        end=END,
        place_name="Circolo",
        place_address="Via Roma 1, Bologna",
        tags=["jazz"],
        description="<p>Live quartet.</p>",
        online_locations=["https://stream.example/jazz"],
        visible=True,
        **fields,
    )
    with db.session() as s:
        row = s.get(Event, event["id"])
        assert row is not None
        row.media = [{"url": "0f3ce1.jpg", "name": "The band", "focalpoint": [0.25, -0.5]}]
        place = s.get(Place, row.place_id)
        assert place is not None
        place.latitude, place.longitude = 44.49, 11.34
    return event


def test_event_object_field_by_field(client: TestClient, federation_on: None, db: Database) -> None:
    event = _jazz(db)
    response = client.get(f"/federation/m/{event['id']}", headers={"Accept": MASTODON_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"] == AP
    body = response.json()
    context = body.pop("@context")
    assert context[:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    assert context[2]["Hashtag"] == "https://www.w3.org/ns/activitystreams#Hashtag"
    assert context[2]["focalPoint"] == {"@container": "@list", "@id": "toot:focalPoint"}
    place_id = body["location"]["id"].rsplit("/", 1)[1]
    published, updated = body.pop("published"), body.pop("updated")
    for stamp in (published, updated):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert body == {
        "id": f"{BASE}/federation/m/{event['id']}",
        "type": "Event",
        "name": "Jazz night",
        "url": f"{BASE}/event/{event['slug']}",
        "startTime": "2025-12-31T20:00:00.000+01:00",
        "endTime": "2025-12-31T23:00:00.000+01:00",
        "location": {
            "id": f"{BASE}/federation/p/{place_id}",
            "type": "Place",
            "name": "Circolo",
            "address": "Via Roma 1, Bologna",
            "url": f"{BASE}/place/{place_id}/Circolo",
            "latitude": 44.49,
            "longitude": 11.34,
        },
        "attachment": [
            {
                "type": "Document",
                "mediaType": "image/jpeg",
                "url": f"{BASE}/media/0f3ce1.jpg",
                "name": "The band",
                "focalPoint": [0.25, -0.5],
            },
            {
                "type": "Link",
                "mediaType": "text/html",
                "name": "https://stream.example/jazz",
                "href": "https://stream.example/jazz",
            },
        ],
        "tag": [{"type": "Hashtag", "name": "#jazz", "href": f"{BASE}/tag/jazz"}],
        "attributedTo": ACTOR,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{ACTOR}/followers"],
        "content": "<p>Live quartet.</p>",
        "summary": "<p>Circolo, Wednesday, December 31 at 08:00 PM CET</p><p>Live quartet.</p>",
    }
    # `.json` always gives the object
    assert (
        client.get(f"/federation/m/{event['id']}.json", headers={"Accept": BROWSER}).json()["name"]
        == "Jazz night"
    )


def test_online_event_without_image_and_fedi_hashtags(
    client: TestClient, federation_on: None, db: Database
) -> None:
    set_settings(db, default_fedi_hashtags=["#piazza", "jazz"], instance_timezone="UTC")
    event = make_event(
        db,
        make_user(db, "streamer@example.org"),
        title="Stream & chat",
        start=START,
        place_name="online",
        place_address="",
        tags=["jazz", "città vecchia"],
        online_locations=["https://stream.example/a"],
        visible=True,
    )
    body = client.get(f"/federation/m/{event['id']}").json()
    assert "endTime" not in body
    assert body["startTime"] == "2025-12-31T19:00:00.000+00:00"
    assert body["location"] == {"type": "Place", "name": "online", "address": ""}
    assert body["attachment"] == [
        {
            "type": "Link",
            "mediaType": "text/html",
            "name": "https://stream.example/a",
            "href": "https://stream.example/a",
        }
    ]
    names = [tag["name"] for tag in body["tag"]]
    assert sorted(names) == ["#città vecchia", "#jazz", "#piazza"]
    assert {"type": "Hashtag", "name": "#città vecchia", "href": f"{BASE}/tag/citt%C3%A0%20vecchia"} in body[
        "tag"
    ]
    assert body["content"] == ""
    assert body["summary"] == "<p>online, Wednesday, December 31 at 07:00 PM UTC</p>"


def test_place_name_is_escaped_in_summary(client: TestClient, federation_on: None, db: Database) -> None:
    event = make_event(
        db, make_user(db, "bar@example.org"), title="x", start=START, place_name="<b>Bar</b>", visible=True
    )
    body = client.get(f"/federation/m/{event['id']}").json()
    assert body["summary"].startswith("<p>&lt;b&gt;Bar&lt;/b&gt;, ")


def test_only_local_visible_events_are_served(client: TestClient, federation_on: None, db: Database) -> None:
    hidden = make_event(db, title="Waiting", visible=False)
    remote = make_event(db, title="From afar", visible=True)
    with db.session() as s:
        row = s.get(Event, remote["id"])
        assert row is not None
        row.ap_id = "https://far.example/federation/m/9"
    for path in (f"/federation/m/{hidden['id']}", f"/federation/m/{remote['id']}", "/federation/m/999999"):
        response = client.get(path, headers={"Accept": MASTODON_ACCEPT})
        assert response.status_code == 404, path
        assert response.text == "Not found"
    for bad in ("abc", "-1", "1.5", "9" * 40, "1.json.json"):
        assert client.get(f"/federation/m/{bad}").status_code == 404, bad
    for slug in (hidden["slug"], remote["slug"]):
        response = client.get(f"/event/{slug}", headers={"Accept": MASTODON_ACCEPT})
        assert response.status_code == 404


def test_browser_asking_for_the_object_is_sent_to_the_page(
    client: TestClient, federation_on: None, db: Database
) -> None:
    event = _jazz(db)
    response = client.get(f"/federation/m/{event['id']}", headers={"Accept": BROWSER}, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == f"{BASE}/event/{event['slug']}"


@pytest.mark.parametrize(
    "accept",
    [
        "application/activity+json",
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        MASTODON_ACCEPT,
    ],
)
def test_event_page_gives_the_object_to_activitypub_clients(
    client: TestClient, federation_on: None, db: Database, accept: str
) -> None:
    event = _jazz(db)
    for ref in (event["slug"], str(event["id"])):
        response = client.get(f"/event/{ref}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == AP
        assert response.headers["vary"] == "Accept"
        assert response.json()["id"] == f"{BASE}/federation/m/{event['id']}"


@pytest.mark.parametrize("accept", [BROWSER, "*/*", None, "application/json"])
def test_event_page_stays_a_page_for_browsers(
    client: TestClient, federation_on: None, db: Database, accept: str | None
) -> None:
    event = _jazz(db)
    response = client.get(f"/event/{event['slug']}", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Accept" in response.headers["vary"]


def test_event_page_is_a_page_for_everyone_while_federation_is_off(client: TestClient, db: Database) -> None:
    event = make_event(db, title="Jazz night", visible=True)
    response = client.get(f"/event/{event['slug']}", headers={"Accept": "application/activity+json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_place_object(client: TestClient, federation_on: None, db: Database) -> None:
    event = _jazz(db)
    with db.session(write=False) as s:
        row = s.get(Event, event["id"])
        assert row is not None
        place_id = row.place_id
    response = client.get(f"/federation/p/{place_id}", headers={"Accept": MASTODON_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"] == AP
    assert response.json() == {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": f"{BASE}/federation/p/{place_id}",
        "type": "Place",
        "name": "Circolo",
        "address": "Via Roma 1, Bologna",
        "url": f"{BASE}/place/{place_id}/Circolo",
        "latitude": 44.49,
        "longitude": 11.34,
    }


def test_remote_and_unknown_places_are_404(client: TestClient, federation_on: None, db: Database) -> None:
    with db.session() as s:
        remote = Place(name="Far", address="", ap_id="https://far.example/federation/p/1")
        s.add(remote)
        s.flush()
        remote_id = remote.id
    assert client.get(f"/federation/p/{remote_id}").status_code == 404
    assert client.get("/federation/p/999999").status_code == 404
    assert client.get("/federation/p/x").status_code == 404
