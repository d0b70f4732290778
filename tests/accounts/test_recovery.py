"""Password recovery (gancio-api.md §6; §3.8: codes random, hashed, single use, expiring)."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from piazza.accounts.models import User
from piazza.accounts.passwords import verify_password
from piazza.db.base import utcnow
from piazza.mail import deliver_pending
from piazza.oauth.tokens import digest
from tests.factories import bearer, deliver_all, make_token, make_user, outbox, set_setting


def stored(db, email):
    with db.session(write=False) as s:
        return s.scalar(select(User).where(User.email == email))


@pytest.fixture
def mailed_code(client, db, app, smtp_server):
    """Ask for recovery of an existing user and return the code read from the delivered mail."""
    set_setting(db, "smtp", smtp_server.setting())
    make_user(db, "lost@example.org")
    assert client.post("/api/user/recover", json={"email": "Lost@Example.org"}).status_code == 200
    deliver_pending(db, app.state.config)
    mail = smtp_server.inbox.wait_for(1)[0]
    assert mail["To"] == "lost@example.org"
    link = next(word for word in mail.get_content().split() if "/recover/" in word)
    assert link.startswith("http://testserver/recover/")
    return link.rsplit("/", 1)[1]


def test_recovery_round_trip_through_the_smtp_server(client, db, mailed_code):
    token = make_token(db, stored(db, "lost@example.org"))
    check = client.post("/api/user/check_recover_code", json={"recover_code": mailed_code})
    assert check.status_code == 200
    assert check.json() == {"email": "lost@example.org"}
    answer = client.post(
        "/api/user/recover_password", json={"recover_code": mailed_code, "password": "brand new pass"}
    )
    assert answer.status_code == 200 and answer.text == "OK"
    user = stored(db, "lost@example.org")
    assert verify_password("brand new pass", user.password)[0]
    assert user.recover_code is None
    assert client.get("/api/user", headers=bearer(token)).status_code == 401  # tokens revoked


def test_the_code_is_random_and_stored_only_as_a_digest(db, mailed_code):
    assert len(mailed_code) == 40
    assert stored(db, "lost@example.org").recover_code == digest(mailed_code)


def test_a_code_works_only_once(client, mailed_code):
    body = {"recover_code": mailed_code, "password": "brand new pass"}
    assert client.post("/api/user/recover_password", json=body).status_code == 200
    assert client.post("/api/user/recover_password", json=body).status_code == 400
    assert client.post("/api/user/check_recover_code", json={"recover_code": mailed_code}).status_code == 400


def test_an_expired_code_is_refused(client, db, mailed_code):
    with db.session() as s:
        s.execute(update(User).values(recover_code_expires_at=utcnow() - timedelta(seconds=1)))
    assert client.post("/api/user/check_recover_code", json={"recover_code": mailed_code}).status_code == 400
    body = {"recover_code": mailed_code, "password": "brand new pass"}
    assert client.post("/api/user/recover_password", json=body).status_code == 400


def test_a_deactivated_user_cannot_use_their_code(client, db, mailed_code):
    with db.session() as s:
        s.execute(update(User).values(is_active=False))
    body = {"recover_code": mailed_code, "password": "brand new pass"}
    assert client.post("/api/user/recover_password", json=body).status_code == 400


def test_a_short_password_keeps_the_code_usable(client, db, mailed_code):
    response = client.post("/api/user/recover_password", json={"recover_code": mailed_code, "password": "x"})
    assert response.status_code == 400
    assert client.post("/api/user/check_recover_code", json={"recover_code": mailed_code}).status_code == 200


def test_recover_answers_the_same_for_unknown_and_inactive_addresses_and_queues_nothing(client, db):
    make_user(db, "sleeping@example.org", is_active=False)
    for email in ("nobody@example.org", "sleeping@example.org"):
        response = client.post("/api/user/recover", json={"email": email})
        assert response.status_code == 200 and response.text == "OK"
    assert outbox(db) == []
    assert stored(db, "sleeping@example.org").recover_code is None


def test_bad_codes_are_400(client, db):
    make_user(db, "u@example.org")
    for body in (
        {},
        {"recover_code": ""},
        {"recover_code": "0" * 40},
        {"recover_code": ["x"]},
        {"recover_code": "x" * 500},
    ):
        assert client.post("/api/user/check_recover_code", json=body).status_code == 400, body
        assert (
            client.post("/api/user/recover_password", json={**body, "password": "long enough"}).status_code
            == 400
        )
    assert client.post("/api/user/recover", json={}).status_code == 400


def test_a_new_request_replaces_the_previous_code(client, db, app, smtp_server, mailed_code):
    assert client.post("/api/user/recover", json={"email": "lost@example.org"}).status_code == 200
    assert client.post("/api/user/check_recover_code", json={"recover_code": mailed_code}).status_code == 400


def test_the_recovery_code_is_never_logged(client, db, app, caplog):
    make_user(db, "lost@example.org")
    with caplog.at_level(logging.DEBUG):
        client.post("/api/user/recover", json={"email": "lost@example.org"})
        deliver_all(app)
    [mail] = outbox(db)
    assert mail["status"] == "sent" and mail["body"] == ""  # the log sender, with no SMTP configured
    assert "/recover/" not in caplog.text
