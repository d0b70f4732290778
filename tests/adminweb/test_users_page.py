"""/admin/users: list, invite, activate/deactivate, change role, delete with a confirmation step."""

from __future__ import annotations

from sqlalchemy import select

from piazza.accounts.models import User
from piazza.oauth.models import Token
from tests.factories import make_token, make_user, outbox


def stored(db, user_id: int) -> User | None:
    with db.session(write=False) as s:
        return s.get(User, user_id)


def test_the_list_shows_email_role_state_and_creation_date(as_admin, db, admin):
    waiting = make_user(db, "waiting@example.org", is_active=False, password=None)
    page = as_admin.get("/admin/users").text
    assert "admin@example.org" in page and "waiting@example.org" in page
    row = page[page.index(f'id="user-{waiting.id}"') :]
    assert "<td>no</td>" in row[: row.index("</tr>")]
    assert waiting.created_at.strftime("%Y-%m-%d") in row
    assert f'href="/admin/users/{waiting.id}/delete"' in page


def test_an_admin_invites_a_user_who_gets_a_mail(as_admin, db):
    response = as_admin.post("/admin/users", {"email": "New@Example.org", "role": "editor"})
    assert response.status_code == 303 and response.headers["location"] == "/admin/users?done=invited"
    with db.session(write=False) as s:
        user = s.scalar(select(User).where(User.email == "new@example.org"))
    assert user is not None and user.role == "editor" and user.is_active
    assert any(mail["recipient"] == "new@example.org" for mail in outbox(db))


def test_a_taken_email_is_shown_with_a_409(as_admin, someone):
    response = as_admin.post("/admin/users", {"email": someone.email, "role": "user"})
    assert response.status_code == 409
    assert "This email is already in use." in response.text and 'role="alert"' in response.text


def test_a_bad_email_or_role_is_shown_with_a_400(as_admin, db):
    assert as_admin.post("/admin/users", {"email": "not an address", "role": "user"}).status_code == 400
    response = as_admin.post("/admin/users", {"email": "ok@example.org", "role": "king"})
    assert response.status_code == 400
    with db.session(write=False) as s:
        assert s.scalar(select(User).where(User.email == "ok@example.org")) is None


def test_activating_a_user_sets_them_active_and_mails_them(as_admin, db):
    waiting = make_user(db, "waiting@example.org", is_active=False, password=None)
    response = as_admin.post(f"/admin/users/{waiting.id}", {"is_active": "true"})
    assert response.status_code == 303
    assert stored(db, waiting.id).is_active is True
    assert any(mail["recipient"] == "waiting@example.org" for mail in outbox(db))


def test_deactivating_a_user_revokes_their_tokens(as_admin, db, someone):
    token = make_token(db, someone)
    assert as_admin.post(f"/admin/users/{someone.id}", {"is_active": "false"}).status_code == 303
    assert stored(db, someone.id).is_active is False
    with db.session(write=False) as s:
        assert all(row.revoked_at is not None for row in s.scalars(select(Token)))
    assert as_admin.client.get("/api/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_changing_the_role_is_stored(as_admin, db, someone):
    assert as_admin.post(f"/admin/users/{someone.id}", {"role": "editor"}).status_code == 303
    assert stored(db, someone.id).role == "editor"


def test_the_last_admin_cannot_be_demoted_or_deactivated(as_admin, db, admin):
    response = as_admin.post(f"/admin/users/{admin.id}", {"role": "user"})
    assert response.status_code == 400
    assert "at least one active admin" in response.text
    assert as_admin.post(f"/admin/users/{admin.id}", {"is_active": "false"}).status_code == 400
    user = stored(db, admin.id)
    assert user.role == "admin" and user.is_active


def test_an_unknown_role_is_refused(as_admin, db, someone):
    assert as_admin.post(f"/admin/users/{someone.id}", {"role": "king"}).status_code == 400
    assert stored(db, someone.id).role == "user"


def test_updating_an_unknown_user_is_a_404_page(as_admin):
    assert as_admin.post("/admin/users/999999", {"role": "user"}).status_code == 404


def test_deleting_asks_for_confirmation_first(as_admin, db, someone):
    page = as_admin.get(f"/admin/users/{someone.id}/delete")
    assert page.status_code == 200
    assert "Delete someone@example.org?" in page.text
    assert f'action="/admin/users/{someone.id}/delete"' in page.text
    assert stored(db, someone.id) is not None


def test_confirming_the_deletion_deletes_the_user(as_admin, db, someone):
    response = as_admin.post(f"/admin/users/{someone.id}/delete")
    assert response.status_code == 303 and response.headers["location"] == "/admin/users?done=deleted"
    assert stored(db, someone.id) is None


def test_the_last_admin_cannot_be_deleted(as_admin, db, admin):
    response = as_admin.post(f"/admin/users/{admin.id}/delete")
    assert response.status_code == 400 and "at least one active admin" in response.text
    assert stored(db, admin.id) is not None


def test_deleting_an_unknown_user_is_a_404_page(as_admin):
    assert as_admin.get("/admin/users/999999/delete").status_code == 404
    assert as_admin.post("/admin/users/999999/delete").status_code == 404
