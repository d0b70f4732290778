"""POST /api/event: encodings, Gancio's validation order and messages, and no partial writes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from piazza.events import service
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.events.sanitize import sanitize_description
from piazza.instance.settings import set_setting
from tests.factories import bearer, make_client, make_token, make_user

FUTURE = int(time.time()) + 7 * 86400
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def user(db):
    return make_user(db, "author@example.org")


@pytest.fixture
def token(db, user):
    return make_token(db, user)


def valid(**overrides):
    body = {
        "title": "Concert",
        "start_datetime": FUTURE,
        "end_datetime": FUTURE + 7200,
        "place_name": "Piazza Grande",
        "place_address": "Via Roma 1",
        "tags": ["music"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_created_event_has_gancio_shape_with_integer_times(client, token):
    response = client.post("/api/event", json=valid(multidate=True), headers=bearer(token))
    assert response.status_code == 200
    event = response.json()
    assert event["title"] == "Concert"
    assert event["slug"] == "concert"
    assert event["tags"] == ["music"]
    assert event["start_datetime"] == FUTURE and isinstance(event["start_datetime"], int)
    assert event["end_datetime"] == FUTURE + 7200
    assert event["multidate"] is True
    assert event["is_visible"] is True
    assert event["media"] == [] and event["online_locations"] == []
    assert set(event["place"]) == {"id", "name", "address", "latitude", "longitude"}
    assert event["place"]["name"] == "Piazza Grande"
    assert event["userId"] is not None


def test_form_encoding_with_repeated_tags_and_string_numbers(client, token):
    body = [
        ("title", "Form event"),
        ("start_datetime", str(FUTURE)),
        ("end_datetime", str(FUTURE + 60)),
        ("place_name", "Hall"),
        ("place_address", "Street 2"),
        ("tags", "one"),
        ("tags", "two"),
        ("multidate", "false"),
    ]
    response = client.post("/api/event", content=urlencode(body), headers={**bearer(token), **FORM})
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["one", "two"]
    assert response.json()["multidate"] is False
    assert response.json()["start_datetime"] == FUTURE


def test_multipart_with_bracketed_tags_and_a_dummy_file_part(client, token):
    fields = {
        "title": "Multipart",
        "start_datetime": str(FUTURE),
        "place_name": "Hall",
        "place_address": "Street 2",
        "tags[]": ["a", "b"],
        "online_locations[]": ["https://meet.example/x"],
    }
    files = {"image": ("", b"", "application/octet-stream")}
    response = client.post("/api/event", data=fields, files=files, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["a", "b"]
    assert response.json()["online_locations"] == ["https://meet.example/x"]
    assert response.json()["media"] == []


def test_multipart_without_any_file_part(client, token):
    fields = {"title": "No file", "start_datetime": str(FUTURE), "place_id": "", "place_name": "X"}
    fields["place_address"] = "Y"
    response = client.post(
        "/api/event", data=fields, files=[("tags[]", (None, "solo"))], headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["solo"]


def test_recurrent_as_json_string_or_object_is_accepted(client, token):
    as_string = client.post(
        "/api/event", json=valid(recurrent=json.dumps({"frequency": "1w"})), headers=bearer(token)
    )
    as_object = client.post("/api/event", json=valid(recurrent={"frequency": "1w"}), headers=bearer(token))
    assert as_string.status_code == 200, as_string.text
    assert as_object.json()["recurrent"] == {"frequency": "1w"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": None}, "title required"),
        ({"title": ""}, "title required"),
        ({"title": "   "}, "title required"),
        ({"start_datetime": None}, "start_datetime required"),
        ({"start_datetime": 0}, "start_datetime required"),
        (
            {"start_datetime": FUTURE + 10, "end_datetime": FUTURE},
            "start datetime is greater than end datetime",
        ),
        ({"end_datetime": 31_536_000_001}, "are you sure?"),
        ({"start_datetime": "soon", "end_datetime": None}, "Wrong format for start datetime"),
        ({"end_datetime": "later"}, "Wrong format for end datetime"),
        ({"start_datetime": 31_536_000_001, "end_datetime": None}, "are you sure?"),
        ({"place_name": None}, "place_id or place_name and place_address are required"),
        ({"place_address": None}, "place_id or place_name and place_address are required"),
        ({"place_name": None, "place_id": 999999}, "Place not found"),
        ({"tags": "music"}, "tags field must be an array"),
        ({"tags": {"a": 1}}, "tags field must be an array"),
    ],
)
def test_validation_messages_are_gancios_and_nothing_is_written(client, db, token, overrides, message):
    response = client.post("/api/event", json=valid(**overrides), headers=bearer(token))
    assert response.status_code == 400
    assert response.text == message
    assert response.headers["content-type"].startswith("text/plain")
    assert count(db, Event) == 0
    assert count(db, Place) == 0
    assert count(db, Tag) == 0


def test_title_is_checked_before_start(client, token):
    response = client.post("/api/event", json={"place_name": "x"}, headers=bearer(token))
    assert response.text == "title required"


def test_place_is_checked_before_tags(client, token):
    response = client.post("/api/event", json=valid(place_name=None, tags="x"), headers=bearer(token))
    assert response.text == "place_id or place_name and place_address are required"


def test_form_times_are_compared_as_numbers_not_strings(client, token):
    # Gancio compares form values as strings, so "900" > "1000" would be refused.
    body = valid(start_datetime=str(FUTURE), end_datetime=str(FUTURE + 100_000_000))
    response = client.post("/api/event", data=body, headers=bearer(token))
    assert response.status_code == 200, response.text


def test_online_place_needs_no_address(client, token):
    response = client.post(
        "/api/event", json=valid(place_name="Online", place_address=None), headers=bearer(token)
    )
    assert response.status_code == 200
    assert response.json()["place"]["address"] == ""


def test_existing_place_is_reused_by_case_insensitive_name_and_trimmed(client, db, token):
    first = client.post(
        "/api/event",
        json=valid(place_name=" test place with white Space ", place_address=" address with Space "),
        headers=bearer(token),
    ).json()
    assert first["place"]["name"] == "test place with white Space"
    assert first["place"]["address"] == "address with Space"
    second = client.post(
        "/api/event",
        json=valid(place_name="TEST PLACE WITH WHITE SPACE", place_address="other"),
        headers=bearer(token),
    ).json()
    assert second["place"]["id"] == first["place"]["id"]
    assert count(db, Place) == 1


def test_place_id_may_be_a_numeric_string(client, token):
    first = client.post("/api/event", json=valid(), headers=bearer(token)).json()
    second = client.post(
        "/api/event", json=valid(place_name=None, place_id=str(first["place"]["id"])), headers=bearer(token)
    )
    assert second.json()["place"]["id"] == first["place"]["id"]


def test_new_place_keeps_coordinates_given_together(client, token):
    body = valid(place_latitude="45.5", place_longitude=9.25)
    place = client.post("/api/event", json=body, headers=bearer(token)).json()["place"]
    assert (place["latitude"], place["longitude"]) == (45.5, 9.25)


def test_same_title_gets_the_next_free_slug(client, token):
    slugs = [
        client.post("/api/event", json=valid(title=" Admin Évent & co. "), headers=bearer(token)).json()[
            "slug"
        ]
        for _ in range(3)
    ]
    assert slugs == ["admin-event-and-co", "admin-event-and-co-1", "admin-event-and-co-2"]


def test_description_is_sanitized(client, token):
    html = (
        '<p wrong-attr="" onclick="alert(\'test\');">inside paragraph</p>'
        '<a href="https://test.com/?query=true&fbclid=facebook_id">link with fb reference</a>'
    )
    event = client.post("/api/event", json=valid(description=html), headers=bearer(token)).json()
    assert (
        event["description"]
        == '<p>inside paragraph</p><a href="https://test.com/?query=true">link with fb reference</a>'
    )


def test_anonymous_event_is_hidden_and_has_no_author(client):
    response = client.post("/api/event", json=valid())
    assert response.status_code == 200
    assert response.json()["is_visible"] is False
    assert response.json()["userId"] is None


def test_anonymous_cannot_create_past_events(client, db):
    response = client.post(
        "/api/event", json=valid(start_datetime=int(time.time()) - 3600, end_datetime=None)
    )
    assert (response.status_code, response.text) == (400, "Anonymous user cannot create past events")
    assert count(db, Event) == 0


def test_authenticated_users_may_create_past_events(client, token):
    response = client.post(
        "/api/event",
        json=valid(start_datetime=int(time.time()) - 3600, end_datetime=None),
        headers=bearer(token),
    )
    assert response.status_code == 200


def test_anonymous_is_forbidden_when_anon_events_are_off(client, db):
    with db.session() as s:
        set_setting(s, "allow_anon_event", False)
    response = client.post("/api/event", json=valid())
    assert response.status_code == 403
    assert count(db, Event) == 0


def test_third_party_token_with_event_write_creates_on_behalf_of_its_user(client, db, user):
    app_client, _ = make_client(db)
    token = make_token(db, user, client_id=app_client.id, scope="event:write")
    response = client.post("/api/event", json=valid(), headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["userId"] == user.id
    assert response.json()["is_visible"] is True


def test_third_party_token_without_event_write_is_refused(client, db, user):
    app_client, _ = make_client(db, scopes="")
    token = make_token(db, user, client_id=app_client.id, scope="")
    response = client.post("/api/event", json=valid(), headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert count(db, Event) == 0


def test_invalid_token_is_refused_rather_than_treated_as_anonymous(client, db):
    response = client.post("/api/event", json=valid(), headers=bearer("0" * 40))
    assert response.status_code == 401
    assert count(db, Event) == 0


def test_malformed_json_is_a_400(client, token):
    response = client.post(
        "/api/event", content=b"{not json", headers={**bearer(token), "content-type": "application/json"}
    )
    assert response.status_code == 400


def test_tags_that_are_not_strings_are_refused_without_writing(client, db, token):
    response = client.post("/api/event", json=valid(tags=["ok", 3]), headers=bearer(token))
    assert response.status_code == 400
    assert count(db, Event) == 0


def test_tags_are_linked_in_the_database(client, db, token):
    event = client.post("/api/event", json=valid(tags=["x", "y"]), headers=bearer(token)).json()
    with db.session() as s:
        linked = s.scalars(select(EventTag.tag).where(EventTag.event_id == event["id"])).all()
    assert sorted(linked) == ["x", "y"]


def test_the_description_is_sanitized_before_the_write_and_used_in_it(db, user):
    html = "<p>Come <b>along</b><script>alert(1)</script></p>"
    data = {
        "title": "Sanitized early",
        "start_datetime": 2_000_000_000,
        "place_name": "Hall",
        "place_address": "1 Road",
        "description": html,
    }
    assert service.sanitized_in_advance(data) == {html: sanitize_description(html)}
    # The transaction takes the value computed before it rather than sanitizing again.
    actor = service.Actor(user_id=user.id, is_moderator=False)
    context = service.EventWriteContext(
        media_dir=Path("/nonexistent"), sanitized={html: "<p>done before</p>"}
    )
    with db.session() as s:
        event = service.create_event(s, actor, data, None, context).event
    assert event["description"] == "<p>done before</p>"
    # Values it cannot take are left to the transaction's checks, with their errors.
    assert service.sanitized_in_advance({"description": 5}) == {}
    assert service.sanitized_in_advance({"description": "x" * (service.MAX_DESCRIPTION_LENGTH + 1)}) == {}
