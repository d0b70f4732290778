"""Inputs that were 500s for anyone (issue 15): each is a 4xx now, on SQLite and on PostgreSQL.

- JSON nested deep inside form fields, or in bodies sent with another content type (piazza/json_input.py);
- `/calendar?month=9999-12` (web/public.py parse_month);
- an event in the year 1 shown in a zone behind UTC (events/service.py MIN_EVENT_TIMESTAMP);
- NUL characters in any text that reaches the database (db/text_guard.py).
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from piazza.db.text_guard import NUL_REFUSED
from piazza.events.models import Event, Place, Tag
from piazza.json_input import TooDeep, loads
from tests.factories import bearer, make_event, make_token, make_user, set_setting, web_session

FUTURE = int(time.time()) + 86400
DEEP = "[" * 20_000 + "]" * 20_000
YEAR_1 = -62_135_596_800  # 0001-01-01T00:00:00Z: the year 0 in New York


@pytest.fixture
def anyone(app):
    """A client that sees a 500 as a response, as an attacker does."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _event_fields(**overrides):
    fields = {"title": "x", "start_datetime": str(FUTURE), "place_name": "p", "place_address": "a"}
    return {**fields, **overrides}


# --- deep JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "status"),
    # `place` is no field of Gancio's (it is ignored); the others are refused, none is a 500.
    [("recurrent", 400), ("place", 200), ("tags", 400), ("online_locations", 400), ("place_id", 400)],
)
@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_deep_json_in_an_event_form_field_is_a_4xx(anyone, db, field, status, encoding):
    files = {"image": ("", b"")} if encoding == "multipart" else None
    response = anyone.post("/api/event", data=_event_fields(**{field: DEEP}), files=files)
    assert response.status_code == status, response.text


def test_deep_json_in_a_json_string_field_is_a_400(anyone, db):
    body = {**_event_fields(), "start_datetime": FUTURE, "recurrent": DEEP}
    assert anyone.post("/api/event", json=body).status_code == 400
    event = make_event(db, make_user(db, role="admin"))
    token = make_token(db, make_user(db, role="admin"))
    update = {**body, "id": event["id"]}
    assert anyone.put("/api/event", json=update, headers=bearer(token)).status_code == 400


@pytest.mark.parametrize("as_json", [False, True])
def test_deep_json_in_redirect_uris_is_a_4xx(anyone, as_json):
    fields = {"client_name": "An app", "redirect_uris": DEEP, "scopes": "event:write"}
    response = anyone.post("/api/client", json=fields) if as_json else anyone.post("/api/client", data=fields)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "path", ["/api/event/messages/1", "/api/user/register", "/api/user/recover", "/api/client", "/api/event"]
)
def test_deep_json_under_another_content_type_is_a_4xx(anyone, path):
    response = anyone.post(path, content=DEEP.encode(), headers={"content-type": "text/plain"})
    assert 400 <= response.status_code < 500, response.text


def test_the_bounded_parser_measures_depth_not_size():
    assert loads("[" * 32 + "]" * 32) is not None
    assert loads(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": "[" * 38}
    assert len(loads("[" + ",".join(["[{}]"] * 1000) + "]")) == 1000
    for text in ("[" * 33 + "]" * 33, '{"a":' * 40 + "1" + "}" * 40, DEEP, DEEP.encode("utf-16")):
        with pytest.raises(TooDeep):
            loads(text)


# --- the calendar and the year 1 ----------------------------------------------------------------------


@pytest.mark.parametrize("month", ["9999-12", "9999-01", "0001-01", "0970-01", "2969-01"])
def test_a_month_out_of_the_calendars_range_is_a_400(anyone, month):
    response = anyone.get("/calendar", params={"month": month})
    assert response.status_code == 400
    assert "The calendar shows the years 971 to 2968." in response.text


@pytest.mark.parametrize("month", ["0971-01", "2968-12", "1899-12"])
def test_the_months_at_the_edges_of_the_range_are_shown(anyone, db, month):
    set_setting(db, "instance_timezone", "America/New_York")
    assert anyone.get("/calendar", params={"month": month}).status_code == 200


@pytest.mark.parametrize("start", [YEAR_1, YEAR_1 + 3600, -31_536_000_001])
def test_an_event_before_the_earliest_time_is_refused(anyone, db, start):
    set_setting(db, "instance_timezone", "America/New_York")
    author = make_user(db)
    token = make_token(db, author)
    body = {**_event_fields(), "start_datetime": start, "end_datetime": FUTURE}
    response = anyone.post("/api/event", json=body, headers=bearer(token))
    assert (response.status_code, response.text) == (400, "start_datetime is too much in the past")
    event = make_event(db, author)
    update = {**body, "id": event["id"]}
    response = anyone.put("/api/event", json=update, headers=bearer(token))
    assert (response.status_code, response.text) == (400, "start_datetime is too much in the past")


def test_the_web_form_refuses_the_year_1_too(anyone, db):
    set_setting(db, "instance_timezone", "America/New_York")
    user = make_user(db)
    web_session(anyone, user)
    page = anyone.get("/add")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    for when in ("0001-01-01T00:00", "9999-12-31T23:59"):
        form = {"csrf_token": csrf, "title": "Old", "start_datetime": when, **_event_fields()}
        form["start_datetime"] = when
        response = anyone.post("/add", data=form, follow_redirects=False)
        assert response.status_code == 400, response.text


def test_the_earliest_event_shows_on_every_page_in_a_zone_behind_utc(anyone, db):
    set_setting(db, "instance_timezone", "America/New_York")
    author = make_user(db)
    token = make_token(db, author)
    body = {**_event_fields(title="Earliest"), "start_datetime": -31_536_000_000, "end_datetime": FUTURE}
    response = anyone.post("/api/event", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    event_id = response.json()["id"]
    for path in (f"/event/{event_id}", f"/api/event/detail/{event_id}.ics", "/", "/feed/ics", "/feed/rss"):
        assert anyone.get(path).status_code == 200, path
    assert "Earliest" in anyone.get("/").text  # still going on: on the home page


# --- NUL characters -----------------------------------------------------------------------------------


NUL = "a\x00b"


def _nul_event_bodies():
    yield {"title": NUL}
    yield {"place_name": NUL}
    yield {"place_address": NUL}
    yield {"tags": ["ok", NUL]}
    yield {"multidate": NUL, "title": NUL}


@pytest.mark.parametrize("fields", list(_nul_event_bodies()), ids=lambda f: next(iter(f)))
def test_nul_in_event_text_is_a_400_and_writes_nothing(anyone, db, fields):
    body = {**_event_fields(), "start_datetime": FUTURE, **fields}
    response = anyone.post("/api/event", json=body)
    assert (response.status_code, response.text) == (400, NUL_REFUSED)
    form = {key: value for key, value in _event_fields(**fields).items() if key != "tags"}
    tags = {"tags[]": fields["tags"]} if "tags" in fields else {}
    response = anyone.post("/api/event", data={**form, **tags}, files={"image": ("", b"")})
    assert response.status_code == 400, response.text
    with db.session() as s:
        assert (s.query(Event).count(), s.query(Place).count(), s.query(Tag).count()) == (0, 0, 0)


def test_a_description_loses_its_nul_to_the_sanitizer(anyone, db):
    body = {**_event_fields(), "start_datetime": FUTURE, "description": f"<p>{NUL}</p>"}
    response = anyone.post("/api/event", json=body)
    assert response.status_code == 200
    assert "\x00" not in response.json()["description"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/events?tags=a%00b",
        "/api/events?query=a%00b",
        "/api/place/a%00b",
        "/api/place?search=a%00b",
        "/api/tag/a%00b",
        "/api/tag?search=a%00b",
        "/api/event/meta?search=a%00b",
        "/api/event/detail/a%00b",
        "/api/pages/a%00b",
        "/api/collections/a%00b",
        "/event/a%00b",
        "/feed/rss/tag/a%00b",
        "/feed/ics/place/a%00b",
        "/?tag=a%00b",
        "/p/a%00b",
    ],
)
def test_nul_in_a_query_or_path_used_in_a_filter_is_a_4xx(anyone, path):
    response = anyone.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)


def test_nul_in_user_fields_is_a_4xx(anyone, db):
    assert 400 <= anyone.post("/api/user/register", json={"email": "x@example.org", "password": "p" * 12,
                                                          "description": NUL}).status_code < 500  # fmt: skip
    assert 400 <= anyone.post("/api/user/register", json={"email": "a\x00@example.org", "password": "p" * 12}
                              ).status_code < 500  # fmt: skip
    assert 400 <= anyone.post("/api/user/recover", json={"email": NUL}).status_code < 500
    assert 400 <= anyone.post("/login", data={"email": NUL, "password": "x"}).status_code < 500
    user = make_user(db)
    token = make_token(db, user)
    response = anyone.put("/api/user", json={"id": user.id, "description": NUL}, headers=bearer(token))
    assert 400 <= response.status_code < 500, response.text


def test_nul_is_refused_in_batched_and_many_row_writes_too(db):
    from sqlalchemy import insert

    from piazza.errors import Invalid

    rows = [{"name": f"place {n}", "address": "a"} for n in range(5)] + [{"name": NUL, "address": "a"}]
    with pytest.raises(Invalid), db.session() as s:
        s.add_all([Place(**row) for row in rows])  # one INSERT ... VALUES for all (insertmanyvalues)
    with pytest.raises(Invalid), db.session() as s:
        s.execute(insert(Place), rows)  # executemany
    with db.session() as s:
        s.add_all([Place(**row) for row in rows[:-1]])
    with db.session(write=False) as s:
        assert s.query(Place).count() == 5
