"""No request and no sequence of requests stops or wedges `piazza serve`.

Gancio 1.21 dies on three anonymous requests: register a client, start an authorization, post the
consent decision without a login session (gancio-api.md §3.4, §3.8 W14). These tests replay that
sequence and the other out-of-order flows against a real `piazza serve` process, then prove that it
still answers, still logs people in, and is still running.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from piazza.db import Database
from piazza.db.migrate import alembic_config, upgrade
from tests.conftest import _postgres_database, empty_database
from tests.factories import DEFAULT_PASSWORD, make_client, make_user
from tests.oauth.flow import csrf_of, hidden_fields
from tests.security.conftest import PiazzaProcess, start_piazza

TIMEOUT = 15  # seconds; a request that takes longer counts as a wedged server
# Each test drives a real server through argon2 logins: seconds each, so they run with `make test-slow`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PiazzaProcess]:
    process = start_piazza(database_url, tmp_path_factory.mktemp("serve"))
    try:
        yield process
    finally:
        process.stop()
        database = Database(database_url)
        empty_database(database)
        database.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def browser(server: PiazzaProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=TIMEOUT, follow_redirects=False)


def assert_alive(server: PiazzaProcess, database: Database) -> None:
    """The process runs, answers, logs a new person in through the pages and the API, and logged no crash."""
    assert server.process.poll() is None, server.log
    with browser(server) as http:
        assert http.get("/api/ping").text == "OK"
        user = make_user(database, f"alive-{secrets.token_hex(4)}@example.org")
        form = {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_of(http.get("/login").text),
        }
        assert http.post("/login", data=form).status_code == 303
        token = http.post(
            "/oauth/login",
            data={
                "grant_type": "password",
                "client_id": "self",
                "username": user.email,
                "password": DEFAULT_PASSWORD,
            },
        ).json()["access_token"]
        assert (
            http.get("/api/user", headers={"Authorization": f"Bearer {token}"}).json()["email"] == user.email
        )
    assert "Traceback" not in server.log and "unhandled error" not in server.log


def authorize_query(client_id: str, redirect_uri: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s"}


def gancios_killer_sequence(server: PiazzaProcess) -> list[int]:
    """The three anonymous requests, with no cookie kept between them."""
    statuses = []
    with browser(server) as http:
        registered = http.post(
            "/api/client", data={"client_name": "Killer", "redirect_uris": "https://k.example/cb"}
        )
        statuses.append(registered.status_code)
        query = authorize_query(registered.json()["client_id"], "https://k.example/cb")
        statuses.append(http.get("/oauth/authorize", params=query).status_code)
        http.cookies.clear()
        decision = {**query, "transaction_id": "abcdefgh", "decision": "approve", "csrf_token": "0" * 40}
        response = http.post("/oauth/authorize", data=decision)
        statuses.append(response.status_code)
        assert response.headers["location"].startswith("/login?")  # sent to log in, no code
    return statuses


def test_gancios_killer_sequence_leaves_the_server_running(server, database):
    for _ in range(3):
        assert gancios_killer_sequence(server) == [200, 303, 303]
    assert_alive(server, database)


def test_the_killer_sequence_from_many_clients_at_once_leaves_the_server_running(server, database):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: gancios_killer_sequence(server), range(16)))
    assert all(statuses == [200, 303, 303] for statuses in results)
    assert_alive(server, database)


@contextmanager
def logged_in_browser(server: PiazzaProcess, database: Database) -> Iterator[httpx.Client]:
    """A browser logged in through the real login form (its cookie jar then holds one session)."""
    with browser(server) as http:
        user = make_user(database, f"p-{secrets.token_hex(4)}@example.org")
        form = {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_of(http.get("/login").text),
        }
        assert http.post("/login", data=form).status_code == 303
        yield http


def test_a_decision_without_an_authorization_request_gets_an_error_page(server, database):
    with logged_in_browser(server, database) as http:
        csrf = csrf_of(http.get("/login").text)
        for fields in (
            {"decision": "approve"},
            {"decision": "deny", "client_id": "0" * 40},
            {"decision": "approve", "response_type": "code"},
            {"decision": "approve", "client_id": "self", "response_type": "code"},
            {"decision": "approve", "client_id": "é\x00", "redirect_uri": "\\\\evil"},
        ):
            response = http.post("/oauth/authorize", data={**fields, "csrf_token": csrf})
            assert response.status_code == 400, response.text
            assert "location" not in response.headers
    assert_alive(server, database)


def test_a_replayed_decision_is_answered_and_each_code_works_once(server, database):
    app_client, secret = make_client(database, redirect_uris=["https://app.example/cb"])
    with logged_in_browser(server, database) as http:
        page = http.get("/oauth/authorize", params=authorize_query(app_client.id, "https://app.example/cb"))
        fields = {**hidden_fields(page.text), "decision": "approve"}
        codes = []
        for _ in range(3):
            response = http.post("/oauth/authorize", data=fields)
            assert response.status_code == 302
            codes.append(parse_qs(urlsplit(response.headers["location"]).query)["code"][0])
        assert len(set(codes)) == 3
        exchange = {"grant_type": "authorization_code", "client_id": app_client.id, "client_secret": secret}
        for code in codes:
            assert http.post("/oauth/token", data={**exchange, "code": code}).status_code == 200
            assert http.post("/oauth/token", data={**exchange, "code": code}).status_code == 400
    assert_alive(server, database)


def test_a_login_form_posted_twice_or_at_once_is_answered(server, database):
    user = make_user(database, f"twice-{secrets.token_hex(4)}@example.org")
    with browser(server) as http:
        form = {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_of(http.get("/login").text),
        }
        assert http.post("/login", data=form).status_code == 303
        again = http.post("/login", data=form)
        assert again.status_code == 403 and "expired" in again.text  # the token changed at login
    with browser(server) as http:
        form = {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_of(http.get("/login").text),
        }
        cookies = dict(http.cookies)

        def post(_: int) -> int:
            with httpx.Client(base_url=server.url, timeout=TIMEOUT, cookies=cookies) as twin:
                return twin.post("/login", data=form).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert set(pool.map(post, range(4))) == {303}
    assert_alive(server, database)


def test_a_decision_after_logout_sends_the_person_to_log_in(server, database):
    app_client, _ = make_client(database, redirect_uris=["https://app.example/cb"])
    with logged_in_browser(server, database) as http:
        page = http.get("/oauth/authorize", params=authorize_query(app_client.id, "https://app.example/cb"))
        fields = {**hidden_fields(page.text), "decision": "approve"}
        assert http.post("/logout", data={"csrf_token": fields["csrf_token"]}).status_code == 303
        response = http.post("/oauth/authorize", data=fields)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    assert_alive(server, database)


def test_the_server_log_holds_no_secret_of_a_whole_flow(server, database):
    app_client, secret = make_client(database, redirect_uris=["https://app.example/cb"])
    with logged_in_browser(server, database) as http:
        page = http.get("/oauth/authorize", params=authorize_query(app_client.id, "https://app.example/cb"))
        decision = http.post("/oauth/authorize", data={**hidden_fields(page.text), "decision": "approve"})
        code = parse_qs(urlsplit(decision.headers["location"]).query)["code"][0]
        auth = {"client_id": app_client.id, "client_secret": secret}
        tokens = http.post(
            "/oauth/token", data={"grant_type": "authorization_code", "code": code, **auth}
        ).json()
        http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **auth},
        )
    for value in (secret, code, tokens["access_token"], tokens["refresh_token"], DEFAULT_PASSWORD):
        assert value not in server.log


# --- a token request during a migration ---------------------------------------------------------------


@pytest.fixture
def scratch_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own: this test migrates it down and up while a server uses it."""
    admin_url = os.environ.get("PIAZZA_TEST_DATABASE_URL")
    if admin_url:
        yield from _postgres_database(admin_url)
    else:
        yield f"sqlite:///{tmp_path / 'migrating.sqlite3'}"


NEXT_RELEASE = """
import sqlalchemy as sa
from alembic import op

revision = "9999_next_release"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    # What a next release might do to the busiest table: SQLite rebuilds it in batch mode.
    with op.batch_alter_table("oauth_tokens") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(64), nullable=True))
        batch_op.create_index("ix_oauth_tokens_note", ["note"])


def downgrade():
    pass
"""

UPGRADE = (
    "import sys; from alembic import command; from alembic.config import Config; c = Config(); "
    "c.set_main_option('script_location', sys.argv[1]); c.set_main_option('sqlalchemy.url', sys.argv[2]); "
    "command.upgrade(c, 'head')"
)


def next_release_migrations(url: str, where: Path) -> Path:
    """The real migrations plus one more, as the next release would ship them."""
    import shutil

    from alembic.script import ScriptDirectory

    from piazza.db.migrate import MIGRATIONS_DIR

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    target = where / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "versions" / "9999_next_release.py").write_text(NEXT_RELEASE.format(head=head))
    return target


def test_token_requests_during_a_migration_get_answers_not_500s(scratch_database_url, tmp_path):
    upgrade(scratch_database_url)
    server = start_piazza(scratch_database_url, tmp_path)
    database = Database(scratch_database_url)
    migrations = next_release_migrations(scratch_database_url, tmp_path)
    try:
        app_client, secret = make_client(database, redirect_uris=["https://app.example/cb"])
        statuses: list[int] = []
        with logged_in_browser(server, database) as http:
            page = http.get(
                "/oauth/authorize", params=authorize_query(app_client.id, "https://app.example/cb")
            )
            fields = {**hidden_fields(page.text), "decision": "approve"}
            auth = {"client_id": app_client.id, "client_secret": secret}
            # `piazza migrate` (nothing to do, but it takes its locks), then the next release's schema change;
            # an older `piazza migrate` refuses a newer schema, so they run one after the other.
            commands = [
                [sys.executable, "-m", "piazza", "migrate"],
                [sys.executable, "-c", UPGRADE, str(migrations), scratch_database_url],
            ]
            migrations_run: list[subprocess.Popen[bytes]] = []

            def start_next_migration() -> None:
                if commands and all(run.poll() is not None for run in migrations_run):
                    command = commands.pop(0)
                    migrations_run.append(
                        subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                            command, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                        )
                    )

            deadline = time.monotonic() + 90
            rounds_after = 0
            start_next_migration()
            while rounds_after < 3 and time.monotonic() < deadline:
                start_next_migration()
                if not commands and all(run.poll() is not None for run in migrations_run):
                    rounds_after += 1  # keep going a little after the migrations end
                decision = http.post("/oauth/authorize", data=fields)
                statuses.append(decision.status_code)
                code = parse_qs(urlsplit(decision.headers["location"]).query)["code"][0]
                tokens = http.post(
                    "/oauth/token", data={"grant_type": "authorization_code", "code": code, **auth}
                )
                statuses.append(tokens.status_code)
                refreshed = http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": tokens.json()["refresh_token"],
                        **auth,
                    },
                )
                statuses.append(refreshed.status_code)
            outputs = [run.communicate(timeout=60)[0].decode() for run in migrations_run]
        assert [run.returncode for run in migrations_run] == [0, 0], outputs
        assert rounds_after == 3, "the migrations did not finish in time"
        assert set(statuses) <= {200, 302}, statuses
        assert_alive(server, database)
    finally:
        server.stop()
        database.dispose()
