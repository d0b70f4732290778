"""`PUT /api/event/assign_to_author` (admins) and `PUT /api/event/disable_author/:id` (editors),
gancio-api.md §2.3."""

from __future__ import annotations

from piazza.accounts.models import User
from piazza.events.models import Event
from tests.factories import bearer, make_event, make_token, make_user, set_setting


def _author_of(db, event_id):
    with db.session() as s:
        return s.get(Event, event_id).user_id


def _is_active(db, user_id):
    with db.session() as s:
        return s.get(User, user_id).is_active


# --- assign_to_author ---------------------------------------------------------------------------------


def test_admin_assigns_an_event_to_another_author_and_back_to_nobody(client, db, admin_headers):
    event = make_event(db, make_user(db))
    new_author = make_user(db)
    body = {"id": event["id"], "user_id": new_author.id}
    response = client.put("/api/event/assign_to_author", json=body, headers=admin_headers)
    assert (response.status_code, response.text) == (200, "OK")
    assert _author_of(db, event["id"]) == new_author.id
    # a form with numeric strings works the same; an empty user_id makes the event anonymous
    form = {"id": str(event["id"]), "user_id": ""}
    assert client.put("/api/event/assign_to_author", data=form, headers=admin_headers).status_code == 200
    assert _author_of(db, event["id"]) is None


def test_assign_unknown_event_is_404_and_unknown_user_is_400_changing_nothing(client, db, admin_headers):
    author = make_user(db)
    event = make_event(db, author)
    for bad_id in (424242, "abc", None):
        body = {"id": bad_id, "user_id": author.id}
        assert client.put("/api/event/assign_to_author", json=body, headers=admin_headers).status_code == 404
    for bad_user in (424242, "x", True, -1):
        body = {"id": event["id"], "user_id": bad_user}
        response = client.put("/api/event/assign_to_author", json=body, headers=admin_headers)
        assert (response.status_code, response.text) == (400, "user not found")
    assert _author_of(db, event["id"]) == author.id


def test_only_admins_with_their_own_token_may_assign(
    client, db, editor_headers, user_headers, admin_app_headers
):
    event = make_event(db, make_user(db))
    body = {"id": event["id"], "user_id": None}
    assert client.put("/api/event/assign_to_author", json=body).status_code == 403
    assert client.put("/api/event/assign_to_author", json=body, headers=user_headers).status_code == 403
    assert client.put("/api/event/assign_to_author", json=body, headers=editor_headers).status_code == 403
    # an admin's third-party app token is not the admin (design.md: scopes are checked before the role)
    refused = client.put("/api/event/assign_to_author", json=body, headers=admin_app_headers)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert _author_of(db, event["id"]) is not None


# --- disable_author -----------------------------------------------------------------------------------


def test_editor_disables_an_author_whose_token_then_stops_working(client, db, editor_headers):
    set_setting(db, "enable_moderation", True)
    author = make_user(db)
    author_token = bearer(make_token(db, author))
    event = make_event(db, author)
    response = client.put(f"/api/event/disable_author/{event['id']}", headers=editor_headers)
    assert (response.status_code, response.text) == (200, "OK")
    assert _is_active(db, author.id) is False
    assert client.get("/api/user", headers=author_token).status_code == 401
    # again: still 200, still inactive
    assert client.put(f"/api/event/disable_author/{event['id']}", headers=editor_headers).status_code == 200


def test_disable_author_needs_moderation_on(client, db, editor_headers):
    author = make_user(db)
    event = make_event(db, author)
    assert client.put(f"/api/event/disable_author/{event['id']}", headers=editor_headers).status_code == 403
    assert _is_active(db, author.id) is True


def test_disable_author_of_unknown_or_anonymous_event_is_404(client, db, editor_headers):
    set_setting(db, "enable_moderation", True)
    anonymous = make_event(db, None)
    for path in ("424242", "abc", str(anonymous["id"])):
        assert client.put(f"/api/event/disable_author/{path}", headers=editor_headers).status_code == 404


def test_users_apps_and_anonymous_may_not_disable_authors(client, db, user_headers, admin_app_headers):
    set_setting(db, "enable_moderation", True)
    author = make_user(db)
    event = make_event(db, author)
    path = f"/api/event/disable_author/{event['id']}"
    assert client.put(path).status_code == 403
    assert client.put(path, headers=user_headers).status_code == 403
    assert client.put(path, headers=admin_app_headers).status_code == 403
    assert _is_active(db, author.id) is True


def test_an_editor_cannot_disable_an_admin_and_the_last_admin_stays(
    client, db, editor_headers, admin_headers
):
    set_setting(db, "enable_moderation", True)
    only_admin = _only_admin(db)
    event = make_event(db, only_admin)
    path = f"/api/event/disable_author/{event['id']}"
    assert client.put(path, headers=editor_headers).status_code == 403
    response = client.put(path, headers=admin_headers)
    assert (response.status_code, response.text) == (400, "the instance must keep at least one active admin")
    assert _is_active(db, only_admin.id) is True


def _only_admin(db):
    with db.session() as s:
        admin = s.query(User).filter(User.role == "admin").one()
        s.expunge(admin)
        return admin
