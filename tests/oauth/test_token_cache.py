"""The read cache of bearer-token checks (db/cache.py): reused while the database is unchanged and for a
few seconds at most, and dropped by any commit, of this worker or another."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import update
from starlette.testclient import TestClient

from piazza.accounts.models import Role, User
from piazza.app import create_app
from piazza.db.base import utcnow
from piazza.oauth.models import Token
from tests.factories import bearer, make_token, make_user
from tests.servers import PiazzaProcess


@pytest.fixture
def member(db):
    return make_user(db, role=Role.USER)


def token_lookups(app, fn) -> int:
    """How many statements read the tokens table while `fn` runs."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM oauth_tokens" in statement:
            seen.append(statement)

    engine = app.state.db.read_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    return len(seen)


def test_a_repeated_token_is_checked_once_while_nothing_changes(client, app, db, member, is_postgres):
    token = make_token(db, member)
    assert client.get("/api/user", headers=bearer(token)).status_code == 200

    def again():
        for _ in range(5):
            response = client.get("/api/user", headers=bearer(token))
            assert response.status_code == 200
            assert response.json()["email"] == member.email

    # PostgreSQL: another node's commits are invisible without a query, so the cache is off there.
    assert token_lookups(app, again) == (5 if is_postgres else 0)


def test_a_revocation_by_another_worker_is_seen_by_the_next_request(client, app, db, member, make_config):
    token = make_token(db, member)
    for _ in range(3):
        assert client.get("/api/user", headers=bearer(token)).status_code == 200
    other_worker = create_app(make_config())  # its own engines, as another process has
    try:
        with other_worker.state.db.session() as s:
            s.execute(update(Token).values(revoked_at=utcnow()))
    finally:
        other_worker.state.db.dispose()
    response = client.get("/api/user", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_role_change_and_a_deactivation_are_seen_at_once(client, db):
    admin = make_user(db, role=Role.ADMIN)
    token = make_token(db, admin)
    assert client.get("/api/users", headers=bearer(token)).status_code == 200
    with db.session() as s:
        s.execute(update(User).where(User.id == admin.id).values(role=Role.USER))
    assert client.get("/api/users", headers=bearer(token)).status_code == 403
    assert client.get("/api/user", headers=bearer(token)).json()["role"] == Role.USER
    with db.session() as s:
        s.execute(update(User).where(User.id == admin.id).values(is_active=False))
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_a_cached_token_still_expires_on_time(client, db, member, monkeypatch):
    token = make_token(db, member, expires_at=utcnow() + timedelta(minutes=5))
    assert client.get("/api/user", headers=bearer(token)).status_code == 200
    later = utcnow() + timedelta(minutes=6)
    monkeypatch.setattr("piazza.oauth.bearer.utcnow", lambda: later)
    monkeypatch.setattr("piazza.db.base.utcnow", lambda: later)
    assert client.get("/api/user", headers=bearer(token)).status_code == 401


def test_entries_last_read_cache_seconds_at_most(client, app, db, member, monkeypatch, is_postgres):
    if is_postgres:
        pytest.skip("the cache is off on PostgreSQL")
    token = make_token(db, member)
    assert client.get("/api/user", headers=bearer(token)).status_code == 200
    now = time.monotonic()
    monkeypatch.setattr(
        "piazza.db.cache.time.monotonic", lambda: now + app.state.config.read_cache_seconds + 1
    )
    assert token_lookups(app, lambda: client.get("/api/user", headers=bearer(token))) == 1


def test_read_cache_seconds_zero_turns_the_cache_off(make_config, db, member):
    app = create_app(make_config(read_cache_seconds=0))
    try:
        token = make_token(db, member)
        with TestClient(app) as client:

            def twice():
                for _ in range(2):
                    assert client.get("/api/user", headers=bearer(token)).status_code == 200

            assert token_lookups(app, twice) == 2
    finally:
        app.state.db.dispose()


# --- two real workers ---------------------------------------------------------------------------------


@pytest.fixture
def two_workers(tmp_path):
    """`piazza serve` with 2 workers on a SQLite file, with an admin and a member created by the CLI."""
    server = PiazzaProcess(f"sqlite:///{tmp_path / 'data' / 'piazza.sqlite3'}", tmp_path / "data")
    server.env["PIAZZA_WORKERS"] = "2"
    server.data_dir.mkdir(parents=True)
    piazza = str(Path(sys.executable).parent / "piazza")
    subprocess.run([piazza, "migrate"], env=server.env, check=True, capture_output=True)  # noqa: S603
    for email, role in (("admin@example.org", "admin"), ("member@example.org", "user")):
        subprocess.run(  # noqa: S603  (our own command)
            [piazza, "users", "create", email, "--role", role, "--password-stdin"],
            input="a long enough password\n",
            env=server.env,
            check=True,
            capture_output=True,
            text=True,
        )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def login(base: str, email: str) -> str:
    response = httpx.post(
        f"{base}/oauth/login",
        data={
            "client_id": "self",
            "grant_type": "password",
            "username": email,
            "password": "a long enough password",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_two_workers_refuse_a_deleted_users_token_at_once(two_workers):
    base = two_workers
    admin, member = login(base, "admin@example.org"), login(base, "member@example.org")
    # A fresh connection each time, so both workers answer some and cache the member's token.
    for _ in range(40):
        assert httpx.get(f"{base}/api/user", headers=bearer(member)).status_code == 200
    member_id = httpx.get(f"{base}/api/user", headers=bearer(member)).json()["id"]
    deleted = httpx.delete(f"{base}/api/user/{member_id}", headers=bearer(admin))
    assert deleted.status_code == 200
    answers = {httpx.get(f"{base}/api/user", headers=bearer(member)).status_code for _ in range(40)}
    assert answers == {401}
