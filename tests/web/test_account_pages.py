"""Register, recover a password, accept an invitation, and the login page's `next`."""

from __future__ import annotations

import re

import pytest

from piazza.accounts.service import find_user_by_email
from piazza.mail import deliver_pending
from tests.factories import DEFAULT_PASSWORD, make_user, set_setting
from tests.web.conftest import csrf_of


def _post(client, path: str, from_page: str | None = None, **fields: str):
    token = csrf_of(client.get(from_page or path).text)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_the_first_person_to_register_becomes_the_admin(client, db):
    response = _post(client, "/register", email="First@Example.org", password="a long password")
    assert response.status_code == 200 and "this instance's admin" in response.text
    with db.session() as s:
        user = find_user_by_email(s, "first@example.org")
        assert user.role == "admin" and user.is_active


def test_later_registrations_wait_for_an_admin(client, db):
    make_user(db, "admin@example.org", role="admin")
    response = _post(client, "/register", email="new@example.org", password="a long password")
    assert response.status_code == 200 and "waits for an admin" in response.text
    with db.session() as s:
        assert find_user_by_email(s, "new@example.org").is_active is False


def test_registration_closed_is_a_clear_4xx(client, db):
    make_user(db, "admin@example.org", role="admin")
    set_setting(db, "allow_registration", False)
    response = _post(client, "/register", email="new@example.org", password="a long password")
    assert response.status_code == 404 and "Registration is closed" in response.text


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "a long password", "not valid"),
        ("member@example.org", "a long password", "already registered"),
        ("new@example.org", "short", "at least"),
        ("", "", "required"),
    ],
)
def test_bad_registrations_show_the_form_with_the_reason(client, db, member, email, password, message):
    set_setting(db, "allow_registration", True)
    response = _post(client, "/register", email=email, password=password)
    assert 400 <= response.status_code < 500 and message in response.text


def test_recovery_answers_the_same_for_known_and_unknown_addresses(client, db, member):
    known = _post(client, "/recover", email=member.email)
    unknown = _post(client, "/recover", email="nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert "If this address belongs to an account" in known.text and "If this address" in unknown.text


def test_a_recovery_link_sets_a_new_password_once(client, app, db, member, smtp_server):
    set_setting(db, "smtp", smtp_server.setting())
    _post(client, "/recover", email=member.email)
    deliver_pending(db, app.state.config)
    body = smtp_server.inbox.wait_for(1)[0].get_content()
    path = re.search(r"http://testserver(/recover/\S+)", body).group(1)
    page = client.get(path)
    assert page.status_code == 200 and member.email in page.text
    response = _post(client, path, password="a new long password", password_again="a new long password")
    assert response.status_code == 303 and response.headers["location"] == "/login?changed=1"
    assert client.get(path).status_code == 400  # used once
    login = _post(client, "/login", email=member.email, password="a new long password")
    assert login.status_code == 303


def test_mismatched_passwords_are_refused(client, db, member):
    response = _post(
        client, "/recover/whatever", "/login", password="a new long password", password_again="other"
    )
    assert response.status_code == 400 and "same new password twice" in response.text


def test_an_invalid_code_is_a_400_page(client, db):
    assert client.get("/user_confirm/not-a-code").status_code == 400
    fields = {"password": "a long password", "password_again": "a long password"}
    response = _post(client, "/user_confirm/not-a-code", "/login", **fields)
    assert response.status_code == 400 and "not valid" in response.text


def test_a_failed_login_answers_403_with_the_email_field(client, db, member):
    response = _post(client, "/login", email=member.email, password="wrong password")
    assert response.status_code == 403 and 'name="email"' in response.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_the_login_page_never_redirects_off_site(client, db, member, target):
    page = client.get("/login", params={"next": target}).text
    assert 'name="next" value="/"' in page
    response = _post(client, "/login", email=member.email, password=DEFAULT_PASSWORD, next=target)
    assert response.headers["location"] == "/"
