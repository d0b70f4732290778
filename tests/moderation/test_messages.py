"""Moderation messages (gancio-api.md §2.4): who may write and read them, and the moderators' list."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from piazza.instance.settings import set_setting
from piazza.moderation import service
from piazza.moderation.models import ModerationMessage
from tests.factories import bearer, insert_event, make_token, make_user

FUTURE = int(time.time()) + 86400


@pytest.fixture
def owner(db):
    return make_user(db, "owner@example.org")


@pytest.fixture
def owner_headers(db, owner):
    return bearer(make_token(db, owner))


@pytest.fixture
def event_id(db, owner):
    return insert_event(db, "Reported", start=FUTURE, user_id=owner.id, slug="reported")


def settings(db, **values):
    with db.session() as s:
        for key, value in values.items():
            set_setting(s, key, value)


def count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ModerationMessage))


def post(client, event_id, headers=None, **body):
    return client.post(f"/api/event/messages/{event_id}", json=body, headers=headers or {})


def test_anyone_reports_an_event_when_reports_are_on(client, db, event_id):
    settings(db, enable_moderation=True, enable_report=True)
    response = post(client, event_id, message="Wrong date", is_author_visible=True)
    assert response.status_code == 200
    message = response.json()
    assert set(message) == {
        "id",
        "eventId",
        "message",
        "is_author_visible",
        "author",
        "createdAt",
        "updatedAt",
    }
    assert message["eventId"] == event_id and message["author"] == "ANON"
    assert message["message"] == "Wrong date" and message["is_author_visible"] is True


def test_reports_need_moderation_enabled(client, db, event_id, admin_headers):
    settings(db, enable_report=True)
    assert post(client, event_id, message="x").status_code == 403
    assert post(client, event_id, admin_headers, message="x").status_code == 403
    assert count(db) == 0


def test_strangers_need_enable_report(client, db, event_id, user_headers):
    settings(db, enable_moderation=True)
    assert post(client, event_id, message="x").status_code == 403
    assert post(client, event_id, user_headers, message="x").status_code == 403
    assert count(db) == 0


def test_moderators_and_the_author_write_without_enable_report(
    client, db, event_id, admin_headers, editor_headers, owner_headers
):
    settings(db, enable_moderation=True)
    assert post(client, event_id, admin_headers, message="a").json()["author"] == "ADMIN"
    assert post(client, event_id, editor_headers, message="b").json()["author"] == "ADMIN"
    by_owner = post(client, event_id, owner_headers, message="c", is_author_visible=False).json()
    assert by_owner["author"] == "AUTHOR"
    assert by_owner["is_author_visible"] is True  # forced for the author's own messages


def test_an_app_token_of_a_moderator_does_not_speak_as_moderator(client, db, event_id, admin_app_headers):
    settings(db, enable_moderation=True, enable_report=True)
    assert post(client, event_id, admin_app_headers, message="x").json()["author"] == "ANON"


def test_unknown_event_is_404(client, db):
    settings(db, enable_moderation=True, enable_report=True)
    assert post(client, 999, message="x").status_code == 404
    assert post(client, "abc", message="x").status_code == 404


@pytest.mark.parametrize(
    "body", [{}, {"message": ""}, {"message": "   "}, {"message": 5}, {"message": "x" * 5001}]
)
def test_a_report_needs_a_message(client, db, event_id, body):
    settings(db, enable_moderation=True, enable_report=True)
    response = client.post(f"/api/event/messages/{event_id}", json=body)
    assert response.status_code == 400
    assert count(db) == 0


def test_form_encoded_report(client, db, event_id):
    settings(db, enable_moderation=True, enable_report=True)
    response = client.post(
        f"/api/event/messages/{event_id}",
        content="message=Spam&is_author_visible=true",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["message"] == "Spam" and response.json()["is_author_visible"] is True


def test_moderators_read_every_message_newest_first(client, db, event_id, admin_headers, editor_headers):
    settings(db, enable_moderation=True, enable_report=True)
    first = post(client, event_id, message="first").json()
    second = post(client, event_id, message="second", is_author_visible=True).json()
    for headers in (admin_headers, editor_headers):
        response = client.get(f"/api/event/messages/{event_id}", headers=headers)
        assert response.status_code == 200
        assert [m["id"] for m in response.json()] == [second["id"], first["id"]]


def test_the_author_reads_only_messages_meant_for_the_author(client, db, event_id, owner_headers):
    settings(db, enable_moderation=True, enable_report=True)
    post(client, event_id, message="private")
    post(client, event_id, message="for you", is_author_visible=True)
    response = client.get(f"/api/event/messages/{event_id}", headers=owner_headers)
    assert [m["message"] for m in response.json()] == ["for you"]


def test_others_cannot_read_messages(client, db, event_id, user_headers, admin_app_headers):
    settings(db, enable_moderation=True, enable_report=True)
    post(client, event_id, message="private")
    assert client.get(f"/api/event/messages/{event_id}").status_code == 403
    assert client.get(f"/api/event/messages/{event_id}", headers=user_headers).status_code == 403
    assert client.get(f"/api/event/messages/{event_id}", headers=admin_app_headers).status_code == 403


def test_reading_needs_moderation_enabled_and_a_known_event(client, db, event_id, admin_headers):
    assert client.get(f"/api/event/messages/{event_id}", headers=admin_headers).status_code == 403
    settings(db, enable_moderation=True)
    assert client.get("/api/event/messages/999", headers=admin_headers).status_code == 404


def test_messages_go_with_their_event(client, db, event_id, owner_headers):
    settings(db, enable_moderation=True, enable_report=True)
    post(client, event_id, message="x")
    from piazza.events.models import Event

    with db.session() as s:
        s.delete(s.get(Event, event_id))
    assert count(db) == 0


def test_moderation_page_service_lists_recent_reports_with_their_event(client, db, event_id):
    settings(db, enable_moderation=True, enable_report=True)
    post(client, event_id, message="first")
    other = insert_event(db, "Other", start=FUTURE, slug="other")
    post(client, other, message="second")
    with db.session(write=False) as s:
        reports = service.recent_reports(s)
    assert [(r["message"], r["event"]["slug"]) for r in reports] == [
        ("second", "other"),
        ("first", "reported"),
    ]
    assert reports[0]["event"] == {"id": other, "title": "Other", "slug": "other", "is_visible": True}
