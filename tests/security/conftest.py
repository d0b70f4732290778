"""Fixtures of the threat suite: a logged-in person, a registered app, and apps with rate limits on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from piazza.app import create_app
from piazza.db import Database
from tests.conftest import TEST_SECRET_KEY, empty_database, free_port, wait_for_a_fresh_window
from tests.factories import make_user, web_session


@pytest.fixture
def person(client, db):
    """A person logged in to the pages through `client` (a signed session cookie)."""
    user = make_user(db, "person@example.org")
    web_session(client, user)
    return user


@pytest.fixture
def app_with(make_config) -> Iterator[Callable[..., FastAPI]]:
    """Build extra apps from config overrides (rate limits on, short lifetimes); cleaned up after."""
    built: list[FastAPI] = []

    def build(**overrides: Any) -> FastAPI:
        application = create_app(make_config(**overrides))
        built.append(application)
        return application

    yield build
    for application in built:
        empty_database(application.state.db)
        application.state.db.dispose()


@pytest.fixture
def limited(app_with) -> Iterator[TestClient]:
    """A TestClient on an app with the real rate limits on, early enough in a counting window."""
    wait_for_a_fresh_window()
    with TestClient(app_with(rate_limits=True)) as test_client:
        yield test_client


class PiazzaProcess:
    """`piazza serve` in a subprocess, as users run it; `.log` reads what it wrote."""

    def __init__(
        self, url: str, process: subprocess.Popen[bytes], log_path: Path, env: dict[str, str]
    ) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.env = env

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def start_piazza(database_url: str, workdir: Path, **env: str) -> PiazzaProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PIAZZA_DATABASE_URL": database_url,
        "PIAZZA_DATA_DIR": str(workdir / "data"),
        "PIAZZA_SECRET_KEY": TEST_SECRET_KEY,
        "PIAZZA_PORT": str(port),
        "PIAZZA_BASE_URL": url,
        "PIAZZA_RATE_LIMITS": "off",
        "PIAZZA_LOG_LEVEL": "INFO",
        **env,
    }
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "piazza", "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/ping", timeout=1).status_code == 200:
                return PiazzaProcess(url, process, log_path, environment)
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(log_path.read_text(errors="replace"))
        time.sleep(0.1)


@pytest.fixture
def piazza_serve(database_url: str, tmp_path: Path) -> Iterator[PiazzaProcess]:
    """`piazza serve` on this test run's database (the e2e `server` fixture, with the log kept)."""
    server = start_piazza(database_url, tmp_path)
    try:
        yield server
    finally:
        server.stop()
        database = Database(database_url)
        empty_database(database)
        database.dispose()
