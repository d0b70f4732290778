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


@pytest.fixture
def admin_headers(db):
    return bearer(make_token(db, make_user(db, "admin@example.org", role="admin")))


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


def test_a_password_change_clears_a_pending_recovery_code(client, db, admin_headers, mailed_code):
    user = stored(db, "lost@example.org")
    # The person remembered the password (or an admin set one): the link mailed before must die.
    changed = client.put(
        "/api/user", json={"id": user.id, "password": "changed by admin"}, headers=admin_headers
    )
    assert changed.status_code == 200
    assert stored(db, "lost@example.org").recover_code is None
    assert client.post("/api/user/check_recover_code", json={"recover_code": mailed_code}).status_code == 400
    body = {"recover_code": mailed_code, "password": "the attackers pass"}
    assert client.post("/api/user/recover_password", json=body).status_code == 400
    assert verify_password("changed by admin", stored(db, "lost@example.org").password)[0]


def test_the_cli_password_reset_clears_a_pending_recovery_code(db, mailed_code):
    from piazza.accounts.service import get_user, set_password

    with db.session() as s:
        set_password(s, get_user(s, stored(db, "lost@example.org").id), "reset by the operator")
    assert stored(db, "lost@example.org").recover_code is None


def _invitation_code(client, db, app, admin_headers, smtp_server) -> str:
    set_setting(db, "smtp", smtp_server.setting())
    assert (
        client.post("/api/user", json={"email": "invitee@example.org"}, headers=admin_headers).status_code
        == 200
    )
    deliver_pending(db, app.state.config)
    mail = smtp_server.inbox.wait_for(1)[0]
    return next(w for w in mail.get_content().split() if "/user_confirm/" in w).rsplit("/", 1)[1]


def test_a_recovery_request_does_not_cancel_a_pending_invitation(client, db, app, admin_headers, smtp_server):
    invitation = _invitation_code(client, db, app, admin_headers, smtp_server)
    # Anyone who knows the address asks for a recovery link: the invitation link keeps working.
    assert client.post("/api/user/recover", json={"email": "invitee@example.org"}).status_code == 200
    check = client.post("/api/user/check_recover_code", json={"recover_code": invitation})
    assert check.status_code == 200 and check.json() == {"email": "invitee@example.org"}
    answer = client.post(
        "/api/user/recover_password", json={"recover_code": invitation, "password": "invited pass"}
    )
    assert answer.status_code == 200
    user = stored(db, "invitee@example.org")
    assert verify_password("invited pass", user.password)[0]
    # The password is set: the recovery link of meanwhile is dead too, and the invitation is used up.
    assert user.recover_code is None and user.invite_code is None
    assert client.post("/api/user/check_recover_code", json={"recover_code": invitation}).status_code == 400


def test_an_invitation_code_expires_on_its_own_clock(client, db, app, admin_headers, smtp_server):
    invitation = _invitation_code(client, db, app, admin_headers, smtp_server)
    with db.session() as s:
        s.execute(update(User).values(invite_code_expires_at=utcnow() - timedelta(seconds=1)))
    assert client.post("/api/user/check_recover_code", json={"recover_code": invitation}).status_code == 400


def test_known_and_unknown_addresses_do_the_same_work(app, db, monkeypatch):
    """Known, unknown and inactive addresses make a code, write the mail, and commit a write: the same
    expensive steps, so the answer's timing cannot tell them apart (no wall-clock measure here)."""
    from fastapi.testclient import TestClient

    from piazza.accounts import people

    client = TestClient(app)  # no lifespan, so no mail worker writing beside the requests

    make_user(db, "known@example.org")
    make_user(db, "sleeping@example.org", is_active=False)
    steps: list[str] = []

    def spy(name, real):
        def wrapped(*args, **kwargs):
            steps.append(name)
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(people, "generate_token", spy("code", people.generate_token))
    monkeypatch.setattr(people.mails, "recover", spy("mail", people.mails.recover))
    monkeypatch.setattr(people, "enqueue", spy("queue", people.enqueue))
    wal_sync = db.wal_sync
    if wal_sync is not None:  # SQLite: the commit that wrote rows waits for an fsync
        monkeypatch.setattr(wal_sync, "commit_wrote_rows", spy("fsync", wal_sync.commit_wrote_rows))

    work = {}
    for email in ("known@example.org", "nobody@example.org", "sleeping@example.org"):
        steps.clear()
        assert client.post("/api/user/recover", json={"email": email}).status_code == 200
        work[email] = sorted(steps)
    assert work["known@example.org"] == work["nobody@example.org"] == work["sleeping@example.org"]
    assert {"code", "mail", "queue"} <= set(work["known@example.org"])
    if wal_sync is not None:
        assert "fsync" in work["nobody@example.org"]
    # Only the real one left a mail behind.
    assert [mail["recipient"] for mail in outbox(db)] == ["known@example.org"]
