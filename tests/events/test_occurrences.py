"""The recurrence generator's database side (gancio-api.md §5.9 "What the generator does")."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from piazza.events import occurrences
from piazza.events.models import Event
from piazza.instance.settings import set_setting
from tests.factories import bearer, make_token, make_user

ROME = ZoneInfo("Europe/Rome")


def rome(*args: int) -> int:
    return int(datetime(*args, tzinfo=ROME).timestamp())


def local(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, ROME).replace(tzinfo=None)


@pytest.fixture
def token(db):
    return make_token(db, make_user(db, "author@example.org"))


def create(client, token, start, rule, **extra):
    body = {
        "title": "weekly",
        "start_datetime": start,
        "place_name": "Hall",
        "place_address": "Street",
        "tags": ["club"],
        "recurrent": rule,
        **extra,
    }
    response = client.post("/api/event", json=body, headers=bearer(token) if token else {})
    assert response.status_code == 200, response.text
    return response.json()


def children(db, parent_id):
    with db.session() as s:
        rows = s.scalars(
            select(Event).where(Event.parent_id == parent_id).order_by(Event.start_datetime)
        ).all()
        return [(local(e.start_datetime), e.slug, e.is_visible) for e in rows]


def hide_children(db, parent_id):
    with db.session() as s:
        for child in s.scalars(select(Event).where(Event.parent_id == parent_id)):
            child.is_visible = False


def run_generator(db, now):
    with db.session() as s:
        return occurrences.generate_all(s, now=now)


def test_creating_a_visible_parent_creates_its_first_occurrence(client, db, token):
    parent = create(
        client, token, rome(2033, 3, 27, 8, 0), {"frequency": "1w"}, end_datetime=rome(2033, 3, 27, 10)
    )
    assert children(db, parent["id"]) == [(datetime(2033, 3, 27, 8, 0), "weekly-1", True)]
    with db.session() as s:
        child = s.scalars(select(Event).where(Event.parent_id == parent["id"])).one()
        assert child.end_datetime - child.start_datetime == 7200
        assert child.recurrent is None and child.place_id == parent["place"]["id"]
    detail = client.get("/api/event/detail/weekly-1").json()
    assert detail["tags"] == ["club"] and detail["parent"]["id"] == parent["id"]


def test_the_generator_keeps_one_upcoming_occurrence(client, db, token):
    parent = create(client, token, rome(2033, 3, 27, 8, 0), {"frequency": "1w"})
    assert run_generator(db, int(time.time())) == 0
    assert len(children(db, parent["id"])) == 1


def test_a_hidden_occurrence_is_skipped_and_the_next_one_created(client, db, token):
    parent = create(client, token, rome(2033, 3, 27, 8, 0), {"frequency": "2w"})
    hide_children(db, parent["id"])
    assert run_generator(db, int(time.time())) == 1
    assert children(db, parent["id"]) == [
        (datetime(2033, 3, 27, 8, 0), "weekly-1", False),
        (datetime(2033, 4, 10, 8, 0), "weekly-2", True),
    ]


def test_occurrences_keep_local_time_across_the_dst_change(client, db, token):
    # Clocks in Rome go forward on Sunday 27 March 2033: 20:00 is 19:00 UTC before, 18:00 UTC after.
    parent = create(client, token, rome(2033, 3, 20, 20, 0), {"frequency": "1w"})
    hide_children(db, parent["id"])
    run_generator(db, int(time.time()))
    (before, _, _), (after, _, _) = children(db, parent["id"])
    assert (before, after) == (datetime(2033, 3, 20, 20, 0), datetime(2033, 3, 27, 20, 0))
    with db.session() as s:
        starts = s.scalars(select(Event.start_datetime).where(Event.parent_id == parent["id"])).all()
    assert sorted(starts)[1] - sorted(starts)[0] == 7 * 86400 - 3600


def test_the_instance_time_zone_is_used(client, db, token):
    with db.session() as s:
        set_setting(s, "instance_timezone", "America/New_York")
    ny = ZoneInfo("America/New_York")
    # 12 March 2033 is a Saturday; New York changes clocks on 13 March.
    start = int(datetime(2033, 3, 12, 9, 0, tzinfo=ny).timestamp())
    parent = create(client, token, start, {"frequency": "1w"})
    hide_children(db, parent["id"])
    run_generator(db, int(time.time()))
    with db.session() as s:
        starts = sorted(s.scalars(select(Event.start_datetime).where(Event.parent_id == parent["id"])))
    assert [datetime.fromtimestamp(t, ny).hour for t in starts] == [9, 9]


def test_monthly_last_weekday(client, db, token):
    parent = create(client, token, rome(2033, 3, 27, 8, 0), {"frequency": "1m", "type": -1})
    for _ in range(2):
        hide_children(db, parent["id"])
        run_generator(db, int(time.time()))
    assert [c[0].date().isoformat() for c in children(db, parent["id"])] == [
        "2033-03-27",
        "2033-04-24",
        "2033-05-29",
    ]


def test_a_past_parent_gets_a_future_occurrence(client, db, token):
    parent = create(client, token, rome(2023, 3, 27, 8, 0), {"frequency": "1w"})
    ((start, _, visible),) = children(db, parent["id"])
    assert visible and start > datetime.now() and (start.hour, start.minute, start.weekday()) == (8, 0, 0)


def test_anonymous_recurrent_event_gets_occurrences_only_when_confirmed(client, db):
    parent = create(client, None, rome(2033, 3, 27, 8, 0), {"frequency": "1w"})
    assert children(db, parent["id"]) == []
    assert run_generator(db, int(time.time())) == 0
    editor = make_token(db, make_user(db, role="editor"))
    client.put(f"/api/event/confirm/{parent['id']}", headers=bearer(editor))
    assert len(children(db, parent["id"])) == 1


def test_parents_are_not_listed_but_occurrences_are_on_tag_pages(client, db, token):
    parent = create(client, token, rome(2033, 3, 27, 8, 0), {"frequency": "1w"})
    assert client.get("/api/events").json() == []
    tagged = client.get("/api/tag/club").json()
    assert [e["parentId"] for e in tagged] == [parent["id"]]


def test_update_without_recurrent_turns_a_parent_into_a_plain_event(client, db, token):
    parent = create(client, token, rome(2033, 3, 27, 8, 0), {"frequency": "1w"})
    body = {"id": parent["id"], "place_id": parent["place"]["id"]}
    updated = client.put("/api/event", json=body, headers=bearer(token)).json()
    assert updated["recurrent"] is None


@pytest.mark.parametrize(
    "rule", [{"frequency": "2m"}, {"frequency": "1d"}, "not json", {"frequency": "1m", "type": 9}]
)
def test_unsupported_rules_are_refused_without_writing(client, db, token, rule):
    body = {"title": "x", "start_datetime": rome(2033, 1, 1, 8), "place_name": "P", "place_address": "A"}
    response = client.post("/api/event", json={**body, "recurrent": rule}, headers=bearer(token))
    assert response.status_code == 400
    with db.session() as s:
        assert s.scalars(select(Event)).all() == []


def test_the_app_runs_the_generator_periodically(app, db, token, monkeypatch):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        parent = create(client, token, rome(2033, 3, 27, 8, 0), {"frequency": "1w"})
    hide_children(db, parent["id"])
    monkeypatch.setattr(occurrences, "GENERATOR_INTERVAL_SECONDS", 0.05)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while len(children(db, parent["id"])) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [c[2] for c in children(db, parent["id"])] == [False, True]
