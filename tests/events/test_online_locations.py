"""`online_locations` holds absolute http(s) URLs only (issue 15): no `javascript:` or `data:` links."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from piazza.events.models import Event
from tests.factories import bearer, make_event, make_token, make_user

FUTURE = int(time.time()) + 86400
REFUSED = "online_locations must be absolute http or https URLs"

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox",
    "//evil.example/path",
    "/relative/path",
    "meet.example/room",
    "https://",
    "http:///no-host",
    "https://meet.example/a b",
    "https://meet.example/\nx",
    "https://[::1/",
    "ftp://files.example/x",
]


def _body(online_locations):
    return {
        "title": "Online talk",
        "start_datetime": FUTURE,
        "place_name": "online",
        "online_locations": online_locations,
    }


@pytest.mark.parametrize("location", UNSAFE)
def test_an_unsafe_online_location_is_refused_with_400(client, db, location):
    token = make_token(db, make_user(db))
    response = client.post("/api/event", json=_body([location]), headers=bearer(token))
    assert (response.status_code, response.text) == (400, REFUSED)
    with db.session() as s:
        assert s.query(Event).count() == 0


def test_forms_and_updates_are_checked_the_same_way(client, db):
    author = make_user(db)
    token = make_token(db, author)
    form = {**_body(None), "start_datetime": str(FUTURE), "online_locations[]": "javascript:alert(1)"}
    del form["online_locations"]
    response = client.post("/api/event", data=form, files={"x": ("", b"")}, headers=bearer(token))
    assert (response.status_code, response.text) == (400, REFUSED)
    response = client.post(
        "/api/event", data={k: v for k, v in form.items() if k != "x"}, headers=bearer(token)
    )
    assert (response.status_code, response.text) == (400, REFUSED)

    event = make_event(db, author, online_locations=["https://meet.example/a"])
    update_body = {"id": event["id"], **_body(["https://ok.example", "data:text/html,<b>x</b>"])}
    response = client.put("/api/event", json=update_body, headers=bearer(token))
    assert (response.status_code, response.text) == (400, REFUSED)
    assert client.get(f"/api/event/detail/{event['id']}").json()["online_locations"] == [
        "https://meet.example/a"
    ]


def test_http_and_https_urls_are_kept(client, db):
    token = make_token(db, make_user(db))
    locations = ["https://meet.example/room?a=1&b=2", "HTTP://Talk.Example:8080/x#y", "  https://x.example  "]
    response = client.post("/api/event", json=_body(locations), headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["online_locations"] == [
        "https://meet.example/room?a=1&b=2",
        "HTTP://Talk.Example:8080/x#y",
        "https://x.example",
    ]


def test_the_event_page_links_only_web_urls_of_rows_stored_before_the_rule(client, db):
    event = make_event(db, make_user(db), online_locations=["https://meet.example/a"])
    with db.session() as s:
        s.execute(
            update(Event)
            .where(Event.id == event["id"])
            .values(online_locations=["javascript:alert(1)", "https://meet.example/a"])
        )
    page = client.get(f"/event/{event['id']}").text
    assert 'href="https://meet.example/a"' in page
    assert 'href="javascript:' not in page and "javascript:alert(1)" in page
