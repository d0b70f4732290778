"""Logins check the password (argon2, tens of milliseconds) before their write transaction, so that no
worker's writes wait behind a login; the transaction then only confirms."""

from __future__ import annotations

import threading

from piazza.accounts import service
from piazza.accounts.models import User
from piazza.accounts.passwords import hash_password
from piazza.db import Database
from tests.factories import DEFAULT_PASSWORD, make_user


def test_other_writes_go_on_while_a_login_checks_its_password(client, db, monkeypatch):
    user = make_user(db)
    checking, release = threading.Event(), threading.Event()
    real_verify = service.verify_password

    def slow_verify(password, password_hash):
        checking.set()
        assert release.wait(10)
        return real_verify(password, password_hash)

    monkeypatch.setattr(service, "verify_password", slow_verify)
    answers = []
    form = {"grant_type": "password", "client_id": "self", "username": user.email}
    form["password"] = DEFAULT_PASSWORD
    login = threading.Thread(target=lambda: answers.append(client.post("/oauth/login", data=form)))
    login.start()
    try:
        assert checking.wait(10)
        other_worker = Database(db.url.render_as_string(hide_password=False))
        try:
            with other_worker.session() as s:  # would wait for the login if it held the write lock
                s.add(User(email="meanwhile@example.org", role="user", is_active=True, settings=[]))
        finally:
            other_worker.dispose()
    finally:
        release.set()
        login.join()
    assert answers[0].status_code == 200
    assert answers[0].json()["access_token"]


def test_a_password_changed_after_the_check_fails_the_login(db):
    user = make_user(db)
    with db.session() as s:
        stored = s.get(User, user.id).password
    checked = service.CheckedPassword(user.id, stored, None)
    with db.session() as s:
        s.get(User, user.id).password = hash_password("a brand new password")
    with db.session() as s:
        assert service.confirm_login(s, checked) is None


def test_a_deactivated_user_cannot_confirm(db):
    user = make_user(db)
    with db.session() as s:
        checked = service.CheckedPassword(user.id, s.get(User, user.id).password, None)
        s.get(User, user.id).is_active = False
    with db.session() as s:
        assert service.confirm_login(s, checked) is None
