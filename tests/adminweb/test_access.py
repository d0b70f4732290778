"""Who may open the admin pages: anonymous visitors log in first, editors moderate, admins do it all."""

from __future__ import annotations

import pytest

from tests.adminweb.conftest import Browser
from tests.factories import make_user, web_session

ADMIN_PAGES = ["/admin/users", "/admin/settings", "/admin/users/1/delete"]
ALL_PAGES = ["/admin/moderation", *ADMIN_PAGES]
POSTS = [
    "/admin/moderation/1/confirm",
    "/admin/moderation/1/reject",
    "/admin/users",
    "/admin/users/1",
    "/admin/users/1/delete",
    "/admin/settings",
    "/admin/settings/smtp",
]
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")


@pytest.mark.parametrize("path", ALL_PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in_and_back(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path.replace("/", "%2F")


@pytest.mark.parametrize("path", POSTS)
def test_an_anonymous_post_changes_nothing(client, path):
    response = client.post(path, data={"csrf_token": "x"}, follow_redirects=False)
    assert response.status_code in (303, 403)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ALL_PAGES)
def test_a_plain_user_gets_a_403_page(client, someone, path):
    web_session(client, someone)
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "for the instance&#39;s admins" in response.text


def test_an_editor_sees_moderation_but_not_users_or_settings(as_editor):
    page = as_editor.get("/admin/moderation")
    assert page.status_code == 200 and "Waiting for confirmation" in page.text
    assert 'href="/admin/users"' not in page.text and 'href="/admin/settings"' not in page.text
    for path in ADMIN_PAGES:
        assert as_editor.get(path).status_code == 403


def test_an_editor_cannot_post_admin_forms(as_editor, db, someone):
    response = as_editor.post(f"/admin/users/{someone.id}", {"role": "admin"})
    assert response.status_code == 403
    response = as_editor.post("/admin/settings", {"title": "Mine now"})
    assert response.status_code == 403


def test_an_admin_opens_every_page(as_admin, admin):
    for path in ["/admin/moderation", "/admin/users", "/admin/settings", f"/admin/users/{admin.id}/delete"]:
        response = as_admin.get(path)
        assert response.status_code == 200, path
        assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize("path", ["/admin/moderation", "/admin/users", "/admin/settings"])
def test_admin_pages_send_the_security_headers(as_admin, path):
    headers = as_admin.get(path).headers
    for name in SECURITY_HEADERS:
        assert name in headers
    assert "default-src" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_a_deactivated_admin_is_logged_out_of_the_admin_pages(client, db):
    admin = make_user(db, "gone@example.org", role="admin", password=None, is_active=False)
    Browser(client, admin)
    assert client.get("/admin/settings", follow_redirects=False).status_code == 303


def test_a_demoted_admin_loses_the_pages_at_once(as_admin, admin, db):
    from piazza.accounts.models import User

    with db.session() as s:
        s.get(User, admin.id).role = "editor"
    assert as_admin.get("/admin/users").status_code == 403


@pytest.mark.parametrize("path", POSTS)
def test_every_form_refuses_a_wrong_csrf_token(as_admin, path):
    response = as_admin.post(path, {"email": "x@example.org", "title": "T"}, csrf="not-the-token")
    assert response.status_code == 403
    assert "The form expired" in response.text


def test_the_image_upload_refuses_a_wrong_csrf_token(as_admin, db):
    from tests.factories import set_setting  # noqa: F401  (the setting must stay unset)

    response = as_admin.post(
        "/admin/settings/image/logo", {"action": "reset"}, csrf="not-the-token", files={"x": ("", b"")}
    )
    assert response.status_code == 403


def test_admin_stylesheet_is_served_as_css(client):
    response = client.get("/static/admin.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
