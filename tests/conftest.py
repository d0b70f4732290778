"""Shared fixtures.

One database per test run, migrated once with Alembic: a SQLite file, or a fresh PostgreSQL database
when PIAZZA_TEST_DATABASE_URL is set (created here, dropped at the end). Tests commit for real (two apps,
live servers and concurrency need it), and every table is emptied after each test.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from piazza.app import create_app
from piazza.config import Config
from piazza.db import Database
from piazza.db.base import Base
from piazza.db.migrate import upgrade
from piazza.oauth.models import SELF_CLIENT_ID, Client

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32


def _postgres_database(admin_url: str) -> Iterator[str]:
    url = make_url(Config(database_url=admin_url).database_url)
    name = f"piazza_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pg_url = os.environ.get("PIAZZA_TEST_DATABASE_URL")
    if pg_url:
        for url in _postgres_database(pg_url):
            upgrade(url)
            yield url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'piazza.sqlite3'}"
        upgrade(url)
        yield url


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def empty_database(database: Database) -> None:
    """Delete every row but the seeded `self` client, children before parents."""
    with database.session() as db:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == Client.__tablename__:
                db.execute(delete(table).where(table.c.id != SELF_CLIENT_ID))
            else:
                db.execute(delete(table))


@pytest.fixture
def make_config(database_url: str, tmp_path: Path):
    """Build a Config for this test's database; keyword arguments override fields."""

    def make(**overrides: object) -> Config:
        values: dict[str, object] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": TEST_SECRET_KEY,
            "rate_limits": False,
            "base_url": "http://testserver",
        }
        values.update(overrides)
        return Config(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def config(make_config) -> Config:
    return make_config()


@pytest.fixture
def app(config: Config) -> Iterator[FastAPI]:
    application = create_app(config)
    try:
        yield application
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()


@pytest.fixture
def db(app: FastAPI) -> Database:
    """The app's Database: `with db.session() as s:` to read or write rows directly."""
    return app.state.db


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


RATE_LIMIT_WINDOW = 300  # every window in limits/rules.py is a multiple of 5 minutes
FRESH_WINDOW_MARGIN = 20  # seconds a rate-limit test may take, on a busy machine


def wait_for_a_fresh_window() -> None:
    """The rate-limit counters slide over windows of 5 minutes: past a window's start, the requests of the
    one before weigh less and less, so a test counting up to a limit first waits out the last seconds
    of a window (20 s in 300) and counts within one."""
    left = RATE_LIMIT_WINDOW - time.time() % RATE_LIMIT_WINDOW
    if left < FRESH_WINDOW_MARGIN:
        time.sleep(left + 0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A real uvicorn server on a free port, in a thread of the test process."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(make_config) -> Iterator[LiveServer]:
    """The app served over real HTTP; its base URL (the OAuth issuer) is the server's own address."""
    port = free_port()
    application = create_app(make_config(base_url=f"http://127.0.0.1:{port}"))
    server = LiveServer(application, port).start()
    try:
        yield server
    finally:
        server.stop()
        empty_database(application.state.db)
        application.state.db.dispose()
