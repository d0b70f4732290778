"""Numeric query parameters of the listings: out-of-range values are clamped or refused, never a 500.

`GET /api/events` reads `max`, `page`, `start` and `end` as Gancio does (JavaScript numbers; 0, negative
or not a number means "no limit" for `max`, "first page" for `page`). Piazza caps `max` at 1000 and
clamps the rest into 64-bit range (events/queries.py); `start=1e30` used to overflow the database.
"""

from __future__ import annotations

import time

import pytest

from piazza.accounts.models import Role
from piazza.events.queries import MAX_PAGE, MAX_PAGE_SIZE, MAX_QUERY_TIMESTAMP, parse_listing
from tests.factories import bearer, insert_event, make_token, make_user


def listing(**params: str):
    return parse_listing({name: [value] for name, value in params.items()}, now=1_000)


def test_max_above_the_cap_means_the_cap():
    assert listing(max=str(10**9)).limit == MAX_PAGE_SIZE == 1000
    assert listing(max="1e30").limit == MAX_PAGE_SIZE


@pytest.mark.parametrize("value", ["0", "-1", "abc", "NaN", "Infinity", ""])
def test_max_that_is_not_a_positive_number_means_no_limit_as_in_gancio(value):
    assert listing(max=value).limit is None


@pytest.mark.parametrize(("value", "page"), [("-5", 0), ("abc", 0), ("2", 2), ("1e30", MAX_PAGE)])
def test_page_is_clamped_to_its_range(value, page):
    assert listing(max="10", page=value).page == page


@pytest.mark.parametrize("value", ["1e30", "99999999999999999999", "-1e30"])
def test_start_and_end_are_clamped_to_safe_integers(value):
    parsed = listing(start=value, end=value)
    assert abs(parsed.start) == MAX_QUERY_TIMESTAMP and abs(parsed.end) == MAX_QUERY_TIMESTAMP


@pytest.fixture
def three_events(db):
    now = int(time.time())
    return [insert_event(db, f"Event {n}", start=now + 3600 * (n + 1)) for n in range(3)]


@pytest.mark.parametrize(
    "query",
    [
        "max=-1",
        "max=1000000000",
        "max=1e30",
        "page=-5",
        "page=abc",
        "max=2&page=1e18",
        "max=2&page=99999999999999999999",
        "start=1e30",
        "start=-1e30",
        "end=1e30",
        "start=99999999999999999999",
        "places=99999999999999999999999",
    ],
)
def test_extreme_listing_parameters_answer_200_not_500(client, three_events, query):
    response = client.get(f"/api/events?{query}")
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


def test_a_huge_max_lists_every_event_and_a_huge_page_none(client, three_events):
    assert len(client.get("/api/events?max=1000000000").json()) == 3
    assert client.get("/api/events?max=2&page=1e18").json() == []
    assert [e["id"] for e in client.get("/api/events?max=2&page=1").json()] == three_events[2:]


def test_a_far_past_start_finds_every_event_and_a_far_future_start_none(client, three_events):
    assert len(client.get("/api/events?start=-1e30").json()) == 3
    assert client.get("/api/events?start=1e30").json() == []


@pytest.mark.parametrize("user_id", ["99999999999999999999999", "9223372036854775808", "0", "-1"])
def test_deleting_a_user_id_no_row_can_have_is_404(client, db, user_id):
    admin = make_user(db, role=Role.ADMIN)
    response = client.delete(f"/api/user/{user_id}", headers=bearer(make_token(db, admin)))
    assert response.status_code == 404


def test_deleting_a_user_with_a_non_numeric_id_is_400(client, db):
    admin = make_user(db, role=Role.ADMIN)
    response = client.delete("/api/user/abc", headers=bearer(make_token(db, admin)))
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["max=1e30", "start_at=99999999999999999999999", "max=-5&start_at=abc"])
def test_collection_listing_parameters_out_of_range_answer_200(client, query):
    assert client.get(f"/api/collections/anything?{query}").status_code == 200


# Ids beyond 32 bits name no row; PostgreSQL's INTEGER columns refused to bind them (a DataError, a 500).
HUGE_ID = 2**45


def test_a_place_id_beyond_any_row_is_refused_not_a_500(client, db):
    admin = make_user(db, role=Role.ADMIN)
    auth = bearer(make_token(db, admin))
    assert client.put("/api/place", json={"id": HUGE_ID, "name": "x"}, headers=auth).status_code == 404
    event = {"title": "x", "start_datetime": int(time.time()) + 3600, "place_id": HUGE_ID}
    assert client.post("/api/event", json=event, headers=auth).status_code == 400


def test_event_and_user_ids_beyond_any_row_are_404(client, db):
    admin = make_user(db, role=Role.ADMIN)
    auth = bearer(make_token(db, admin))
    assert client.put("/api/event", json={"id": HUGE_ID, "title": "x"}, headers=auth).status_code == 404
    assert client.delete(f"/api/event/{HUGE_ID}", headers=auth).status_code == 404
    assert client.delete(f"/api/user/{HUGE_ID}", headers=auth).status_code == 404
    assert client.put("/api/user", json={"id": HUGE_ID, "role": "user"}, headers=auth).status_code == 404


def test_collection_and_filter_ids_beyond_any_row_are_refused(client, db):
    admin = make_user(db, role=Role.ADMIN)
    auth = bearer(make_token(db, admin))
    assert client.post("/api/filter", json={"collectionId": HUGE_ID}, headers=auth).status_code == 400
    created = client.post("/api/collections", json={"name": "Huge"}, headers=auth).json()
    places = {"collectionId": created["id"], "places": [{"id": HUGE_ID, "name": "x"}]}
    assert client.post("/api/filter", json=places, headers=auth).status_code == 400
    assert client.delete(f"/api/filter/{HUGE_ID}", headers=auth).status_code == 404
