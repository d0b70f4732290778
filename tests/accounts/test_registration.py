"""POST /api/user/register (gancio-api.md §6, §3.8 "Registration mass-assignment")."""

import threading

from fastapi.testclient import TestClient
from sqlalchemy import select

from piazza.accounts.models import User
from piazza.app import create_app
from piazza.mail import deliver_pending
from tests.factories import DEFAULT_PASSWORD, make_user, outbox, set_setting


def stored(db, email):
    with db.session(write=False) as s:
        return s.scalar(select(User).where(User.email == email))


def register(client, email="new@example.org", password=DEFAULT_PASSWORD, **extra):
    return client.post("/api/user/register", json={"email": email, "password": password, **extra})


def test_first_user_of_an_empty_instance_becomes_an_active_admin(client, db):
    response = register(client, "First@Example.org", description="hello")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "first@example.org"
    assert body["role"] == "admin" and body["is_admin"] is True and body["is_active"] is True
    assert "password" not in body and "recover_code" not in body
    assert stored(db, "first@example.org").role == "admin"


def test_first_user_may_register_even_when_registration_is_closed(client, db):
    set_setting(db, "allow_registration", False)
    assert register(client).json()["role"] == "admin"


def test_later_registrant_is_an_inactive_user_answered_with_ok(client, db):
    make_user(db, "admin@example.org", role="admin")
    response = register(client, "later@example.org", description="I run the bar")
    assert response.status_code == 200
    assert response.text == "OK"
    user = stored(db, "later@example.org")
    assert user.role == "user" and user.is_active is False
    assert user.description == "I run the bar"


def test_role_and_activation_in_the_body_are_ignored(client, db):
    make_user(db, "admin@example.org", role="admin")
    response = register(
        client, "sneaky@example.org", role="admin", is_active=True, recover_code="a" * 40, is_admin=True
    )
    assert response.status_code == 200
    user = stored(db, "sneaky@example.org")
    assert user.role == "user" and user.is_active is False and user.recover_code is None


def test_registration_accepts_a_url_encoded_form(client, db):
    make_user(db, "admin@example.org", role="admin")
    response = client.post(
        "/api/user/register",
        data={"email": "form@example.org", "password": DEFAULT_PASSWORD, "role": "admin"},
    )
    assert response.status_code == 200
    assert stored(db, "form@example.org").role == "user"


def test_closed_registration_is_404_as_gancio(client, db):
    make_user(db, "admin@example.org", role="admin")
    set_setting(db, "allow_registration", False)
    response = register(client)
    assert response.status_code == 404
    assert stored(db, "new@example.org") is None


def test_badly_formed_email_is_404_with_gancio_json_string(client, db):
    make_user(db, "admin@example.org", role="admin")
    for email in ("not-an-email", "a@b", "two@@example.org", "sp ace@example.org"):
        response = register(client, email)
        assert response.status_code == 404, email
        assert response.json() == "Invalid email"


def test_addresses_with_an_empty_label_or_part_are_invalid(client, db):
    # The hand-written pattern accepted these; email-validator reads the address as RFC 5322 does.
    make_user(db, "admin@example.org", role="admin")
    set_setting(db, "allow_registration", True)
    for email in ("a..b@x.org", "a@example..org", ".a@example.org", "a.@example.org", "a@-x.org"):
        response = register(client, email)
        assert response.status_code == 404, email
        assert response.json() == "Invalid email"
        assert stored(db, email) is None


def test_plus_dotted_and_international_addresses_register(client, db):
    make_user(db, "admin@example.org", role="admin")
    set_setting(db, "allow_registration", True)
    for email in ("first.last+agenda@example.org", "zoë@exämple.org", "x@mail.agenda.example.org"):
        response = register(client, email)
        assert response.status_code == 200, (email, response.text)
        assert stored(db, email) is not None


def test_first_user_needs_a_well_formed_email_too(client, db):
    response = register(client, "admin")
    assert response.status_code == 404
    assert response.json() == "Invalid email"
    assert stored(db, "admin") is None


def test_taken_email_is_400_email_taken(client, db):
    make_user(db, "taken@example.org", role="admin")
    response = register(client, "TAKEN@example.org")
    assert response.status_code == 400
    assert response.text == "error.email_taken"


def test_missing_or_short_password_is_400(client, db):
    assert client.post("/api/user/register", json={"email": "a@example.org"}).status_code == 400
    response = register(client, password="short")
    assert response.status_code == 400
    assert "at least 8" in response.text
    assert stored(db, "new@example.org") is None


def test_wrong_types_and_bad_json_are_400(client):
    assert register(client, email=["a@example.org"]).status_code == 400
    response = client.post(
        "/api/user/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert client.post("/api/user/register", json=["a", "b"]).status_code == 400


def test_later_registration_mails_the_registrant_and_the_admin(client, db, app, smtp_server):
    make_user(db, "admin@example.org", role="admin")
    set_setting(db, "smtp", smtp_server.setting())
    set_setting(db, "admin_email", "boss@example.org")
    assert register(client, "later@example.org", description="Let me in").status_code == 200
    deliver_pending(db, app.state.config)
    smtp_server.inbox.wait_for(2)
    assert "registration" in smtp_server.inbox.to("later@example.org")[0]["Subject"].lower()
    to_admin = smtp_server.inbox.to("boss@example.org")[0]
    assert "later@example.org" in to_admin["Subject"]
    assert "Let me in" in to_admin.get_content()


def test_first_registration_sends_no_mail(client, db):
    register(client)
    assert outbox(db) == []


def test_two_simultaneous_first_registrations_make_only_one_admin(make_config, db):
    apps = [create_app(make_config()) for _ in range(2)]
    clients = [TestClient(a) for a in apps]
    barrier = threading.Barrier(2)
    answers = {}

    def go(index):
        barrier.wait()
        answers[index] = register(clients[index], f"racer{index}@example.org")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a in apps:
        a.state.db.dispose()
    with db.session(write=False) as s:
        roles = sorted(s.scalars(select(User.role)))
    assert roles == ["admin", "user"]
    assert sorted(a.status_code for a in answers.values()) == [200, 200]
