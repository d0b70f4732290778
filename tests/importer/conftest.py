"""Gancio fixtures as import sources: the SQLite file (a copy), the PostgreSQL dump loaded into a fresh
database on 127.0.0.1:5432, the MariaDB dump into a fresh database on 127.0.0.1:3306; each dropped
after the test. Engines that do not answer are skipped."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from piazza.config import Config
from piazza.importer.report import ImportReport
from piazza.importer.service import ImportOptions, import_gancio
from piazza.importer.source import open_source

# Databases and uploads made by a real Gancio, in the project's shared folder: beside the repository (as
# CI lays it out), else where the workplace keeps it.
FIXTURES = next(
    (
        folder / "fixtures" / "gancio"
        for folder in (Path(__file__).resolve().parents[3] / "shared", Path("/work/shared"))
        if (folder / "fixtures" / "gancio").is_dir()
    ),
    Path("/work/shared/fixtures/gancio"),
)
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MARIADB = ("127.0.0.1", 3306)


@dataclass
class GancioFixture:
    engine: str
    source: str  # what `piazza import-gancio` is given
    media: Path
    expected: dict[str, Any]
    base_url: str


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _postgres_admin_url() -> str:
    configured = os.environ.get("PIAZZA_TEST_DATABASE_URL")
    url = make_url(Config(database_url=configured).database_url) if configured else make_url(POSTGRES_ADMIN)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _load_postgres(dump: Path) -> Iterator[str]:
    if not _answers("127.0.0.1", 5432) or shutil.which("psql") is None:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432 (or psql is missing)")
    admin_url = make_url(_postgres_admin_url())
    name = f"gancio_src_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name)
    try:
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run(  # noqa: S603  (psql from PATH, our own dump)
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", plain, "-f", str(dump)],  # noqa: S607
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield plain
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _mariadb(*args: str, stdin: Any = None) -> None:
    subprocess.run(  # noqa: S603
        ["mariadb", "-h", MARIADB[0], "-P", str(MARIADB[1]), "-uroot", *args],  # noqa: S607
        check=True,
        capture_output=True,
        stdin=stdin,
        timeout=120,
    )


def _load_mariadb(dump: Path) -> Iterator[str]:
    if not _answers(*MARIADB) or shutil.which("mariadb") is None:
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306 (or the mariadb client is missing)")
    pytest.importorskip("pymysql")
    name = f"gancio_src_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        _mariadb("-e", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    except subprocess.CalledProcessError:
        pytest.skip("MariaDB on 127.0.0.1:3306 does not let root without password create a database")
    try:
        with dump.open("rb") as sql:
            _mariadb(name, stdin=sql)
        yield f"mysql://root@{MARIADB[0]}:{MARIADB[1]}/{name}"
    finally:
        _mariadb("-e", f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def gancio(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GancioFixture]:
    """One Gancio instance per engine, ready to be read."""
    engine = request.param
    folder = FIXTURES / engine
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    base_url = expected["fixture"]["baseurl"]
    if engine == "sqlite":
        copy = tmp_path / "gancio.sqlite"
        shutil.copyfile(folder / "gancio.sqlite", copy)
        yield GancioFixture(engine, str(copy), folder / "uploads", expected, base_url)
    elif engine == "postgres":
        for url in _load_postgres(folder / "gancio.sql"):
            yield GancioFixture(engine, url, folder / "uploads", expected, base_url)
    else:
        for url in _load_mariadb(folder / "gancio.sql"):
            yield GancioFixture(engine, url, folder / "uploads", expected, base_url)


def run_import(app: FastAPI, fixture: GancioFixture, **options: Any) -> ImportReport:
    """Import the fixture into the app's database, as `piazza import-gancio` does."""
    source = open_source(fixture.source)
    try:
        return import_gancio(
            source,
            app.state.db,
            app.state.config,
            ImportOptions(media_dir=fixture.media, gancio_base_url=fixture.base_url, **options),
        )
    finally:
        source.close()


@pytest.fixture
def db_of():
    """The Database of an `imported` fixture's app."""

    def get(imported: tuple[Any, ...]) -> Any:
        return imported[0].app.state.db

    return get
