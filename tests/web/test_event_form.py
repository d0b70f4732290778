"""Adding and editing an event through the pages: the same rules as the API."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from PIL import Image

from tests.factories import make_event, make_user, set_setting, web_session
from tests.web.conftest import csrf_of

ROME = ZoneInfo("Europe/Rome")


def _form(client, path: str = "/add") -> dict[str, str]:
    return {"csrf_token": csrf_of(client.get(path).text)}


def _fields(**overrides: str) -> dict[str, str]:
    fields = {
        "title": "Neighbourhood dinner",
        "start_datetime": "2031-03-04T20:30",
        "end_datetime": "2031-03-04T23:00",
        "place_name": "Community Hall",
        "place_address": "5 Church Road",
        "tags": "food, neighbours",
        "description": "<p>Bring <b>something</b></p>",
    }
    fields.update(overrides)
    return fields


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_person_adds_an_event_with_times_read_in_the_instance_zone(client, db, logged_in):
    data = _form(client) | _fields()
    response = client.post("/add", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/event/neighbourhood-dinner"
    event = client.get("/api/event/detail/neighbourhood-dinner").json()
    assert event["start_datetime"] == int(datetime(2031, 3, 4, 20, 30, tzinfo=ROME).timestamp())
    assert event["end_datetime"] == int(datetime(2031, 3, 4, 23, 0, tzinfo=ROME).timestamp())
    assert sorted(event["tags"]) == ["food", "neighbours"] and event["place"]["name"] == "Community Hall"
    assert event["is_visible"] is True


def test_an_uploaded_image_becomes_the_event_media(client, db, logged_in):
    data = _form(client) | _fields()
    response = client.post("/add", data=data, files={"image": ("dinner.png", _png(), "image/png")})
    assert response.status_code == 200
    event = client.get("/api/event/detail/neighbourhood-dinner").json()
    assert len(event["media"]) == 1
    assert client.get(f"/media/{event['media'][0]['url']}").status_code == 200


def test_a_known_place_needs_no_address(client, db, logged_in):
    make_event(db, logged_in, place_name="Community Hall", place_address="5 Church Road")
    data = _form(client) | _fields(title="Second", place_address="")
    assert client.post("/add", data=data, follow_redirects=False).status_code == 303
    assert client.get("/api/event/detail/second").json()["place"]["address"] == "5 Church Road"


def test_service_errors_show_the_form_again_with_a_400(client, db, logged_in):
    data = _form(client) | _fields(title="", start_datetime="2031-03-04T20:30")
    response = client.post("/add", data=data)
    assert response.status_code == 400 and "title required" in response.text
    assert 'value="Community Hall"' in response.text  # what was typed is kept


def test_a_malformed_date_is_a_400_not_a_500(client, db, logged_in):
    response = client.post("/add", data=_form(client) | _fields(start_datetime="yesterday"))
    assert response.status_code == 400 and "not a date and time" in response.text


def test_the_form_offers_known_places_and_tags(client, db, logged_in):
    make_event(db, logged_in, place_name="Community Hall", tags=["food"])
    page = client.get("/add").text
    assert '<option value="Community Hall">' in page and '<option value="food">' in page


def test_anonymous_submission_waits_for_moderation_and_says_so(client, db):
    page = client.get("/add").text
    assert "wait for a moderator" in page
    response = client.post("/add", data=_form(client) | _fields())
    assert response.status_code == 200 and "waits for moderation" in response.text
    assert client.get("/event/neighbourhood-dinner").status_code == 404  # hidden until confirmed


def test_anonymous_submission_is_refused_when_not_allowed(client, db):
    set_setting(db, "allow_anon_event", False)
    assert "log in</a> to add an event" in client.get("/add").text
    response = client.post("/add", data=_form(client, "/login") | _fields())
    assert response.status_code == 403


def test_recurrence_is_offered_only_when_allowed(client, db, logged_in):
    assert 'name="recurrent"' not in client.get("/add").text
    set_setting(db, "allow_recurrent_event", True)
    assert 'name="recurrent"' in client.get("/add").text
    data = _form(client) | _fields(recurrent="1w")
    assert client.post("/add", data=data, follow_redirects=False).status_code == 303
    assert client.get("/api/event/detail/neighbourhood-dinner").json()["recurrent"] == {"frequency": "1w"}


def test_the_author_edits_an_event(client, db, logged_in):
    event = make_event(db, logged_in, title="Dinner", tags=["food"])
    form = client.get(f"/event/{event['slug']}/edit").text
    assert 'value="Dinner"' in form and 'value="food"' in form
    data = {"csrf_token": csrf_of(form)} | _fields(
        title="Dinner (moved)", start_datetime="2031-05-01T19:00", end_datetime="2031-05-01T22:00"
    )
    response = client.post(f"/event/edit?event={event['slug']}", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    changed = client.get(f"/api/event/detail/{event['id']}").json()
    assert changed["title"] == "Dinner (moved)"
    assert changed["start_datetime"] == int(datetime(2031, 5, 1, 19, 0, tzinfo=ROME).timestamp())


def test_someone_else_may_not_edit_or_delete(client, db, logged_in):
    other = make_user(db, "other@example.org")
    event = make_event(db, other, title="Not mine")
    assert client.get(f"/event/{event['slug']}/edit").status_code == 403
    data = _form(client) | _fields(title="Hijacked")
    assert client.post(f"/event/edit?event={event['slug']}", data=data).status_code == 403
    assert client.post(f"/event/{event['id']}/delete", data=_form(client)).status_code == 403
    assert client.get(f"/api/event/detail/{event['id']}").json()["title"] == "Not mine"


def test_visitors_may_not_edit(client, db, member):
    event = make_event(db, member)
    assert client.get(f"/event/{event['slug']}/edit").status_code == 404


def test_a_moderator_edits_and_deletes_anyones_event(client, db, member):
    editor = make_user(db, "editor@example.org", role="editor")
    event = make_event(db, member, title="Theirs")
    web_session(client, editor)
    assert client.get(f"/event/{event['slug']}/edit").status_code == 200
    response = client.post(f"/event/{event['id']}/delete", data=_form(client), follow_redirects=False)
    assert response.status_code == 303
    assert client.get(f"/api/event/detail/{event['id']}").status_code == 404


def test_the_event_forms_get_the_upload_cap_not_the_body_cap(make_config, db):
    from fastapi.testclient import TestClient

    from piazza.app import create_app

    app = create_app(make_config(max_body_size=4096))
    image = _png() + b"\0" * 8192  # larger than the body cap, far under the upload cap
    with TestClient(app) as small:
        data = _form(small) | _fields()
        response = small.post("/add", data=data, files={"image": ("big.png", image, "image/png")})
        assert response.status_code != 413
        other = small.post("/register", data=data, files={"image": ("big.png", image, "image/png")})
        assert other.status_code == 413
    app.state.db.dispose()
