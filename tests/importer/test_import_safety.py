"""The import's safety rules (issue 18): the source is never written, a non-empty target is refused
unless --force, --force twice gives the same rows as once, a dry run writes nothing, and a failure
part-way leaves the target as it was."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from typer.testing import CliRunner

from piazza.accounts.models import User
from piazza.app import create_app
from piazza.cli import app as cli_app
from piazza.db.base import Base
from piazza.events.models import Event
from piazza.importer import service
from piazza.importer.service import TargetNotEmpty
from piazza.importer.source import open_source
from piazza.instance.images import images_dir
from tests.factories import make_user
from tests.importer.conftest import FIXTURES, GancioFixture, run_import


@pytest.fixture
def sqlite_gancio(tmp_path: Path) -> GancioFixture:
    import json

    copy = tmp_path / "gancio.sqlite"
    shutil.copyfile(FIXTURES / "sqlite" / "gancio.sqlite", copy)
    expected = json.loads((FIXTURES / "sqlite" / "expected.json").read_text(encoding="utf-8"))
    return GancioFixture(
        "sqlite", str(copy), FIXTURES / "sqlite" / "uploads", expected, expected["fixture"]["baseurl"]
    )


@pytest.fixture
def target(make_config, sqlite_gancio) -> Iterator[FastAPI]:
    from tests.conftest import empty_database

    application = create_app(make_config(base_url=sqlite_gancio.base_url))
    try:
        yield application
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()


def _dump(app: FastAPI) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order (rate-limit counters aside)."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with app.state.db.session(write=False) as db:
        for table in Base.metadata.sorted_tables:
            if table.name in service.KEPT_TABLES:
                continue
            columns = [c for c in table.c if c.name != "id" or table.name != "oauth_tokens"]
            rows[table.name] = sorted(tuple(map(repr, row)) for row in db.execute(select(*columns)))
    return rows


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _counts(app: FastAPI) -> tuple[int, int]:
    with app.state.db.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(User)), db.scalar(
            select(func.count()).select_from(Event)
        )


def test_the_source_file_is_never_written(target, sqlite_gancio):
    before = hashlib.sha256(Path(sqlite_gancio.source).read_bytes()).hexdigest()
    run_import(target, sqlite_gancio)
    assert hashlib.sha256(Path(sqlite_gancio.source).read_bytes()).hexdigest() == before
    source = open_source(sqlite_gancio.source)
    try:
        with pytest.raises(SQLAlchemyError):
            source.connection.exec_driver_sql("DELETE FROM events")
    finally:
        source.close()


def test_a_target_with_users_is_refused_and_left_alone(target, sqlite_gancio):
    make_user(target.state.db, "someone@example.org")
    with pytest.raises(TargetNotEmpty):
        run_import(target, sqlite_gancio)
    assert _counts(target) == (1, 0)


def test_force_twice_gives_the_same_rows_and_files_as_once(target, sqlite_gancio):
    make_user(target.state.db, "someone@example.org")
    run_import(target, sqlite_gancio, force=True)
    first, first_files = _dump(target), _files(target.state.config.data_dir)
    assert _counts(target) == (4, 50)
    run_import(target, sqlite_gancio, force=True)
    assert _dump(target) == first
    assert _files(target.state.config.data_dir) == first_files


def test_a_dry_run_checks_everything_and_writes_nothing(target, sqlite_gancio):
    report = run_import(target, sqlite_gancio, dry_run=True)
    assert report.dry_run
    assert report.tables["events"].imported == 50 and report.tables["users"].imported == 4
    assert report.files_copied == 8
    assert _counts(target) == (0, 0)
    assert not target.state.config.data_dir.exists() or _files(target.state.config.data_dir) == {}


def test_a_failure_part_way_leaves_the_target_and_its_files_as_they_were(target, sqlite_gancio, monkeypatch):
    run_import(target, sqlite_gancio)
    before, before_files = _dump(target), _files(target.state.config.data_dir)

    def broken(self: Any) -> None:
        raise RuntimeError("disk full")

    # Late in the import: the settings images are written, every table but the tokens too.
    monkeypatch.setattr(service._Importer, "oauth_tokens", broken)
    (target.state.config.media_dir / "thumb" / next(iter(_media_names(sqlite_gancio)))).unlink()
    with pytest.raises(RuntimeError):
        run_import(target, sqlite_gancio, force=True)
    assert _dump(target) == before
    after_files = _files(target.state.config.data_dir)
    assert set(after_files) == set(before_files) - {f"media/thumb/{next(iter(_media_names(sqlite_gancio)))}"}


def test_a_failure_on_an_empty_target_leaves_it_empty(target, sqlite_gancio, monkeypatch):
    def broken(self: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service._Importer, "media", broken)
    with pytest.raises(RuntimeError):
        run_import(target, sqlite_gancio)
    assert _counts(target) == (0, 0)
    assert not (images_dir(target.state.config.data_dir) / "logo.png").exists()


def test_a_missing_thumbnail_is_made(target, sqlite_gancio, tmp_path):
    uploads = tmp_path / "uploads"
    shutil.copytree(sqlite_gancio.media, uploads)
    name = sorted(_media_names(sqlite_gancio))[0]
    (uploads / "thumb" / name).unlink()
    gone = sorted(_media_names(sqlite_gancio))[1]
    (uploads / gone).unlink()
    fixture = GancioFixture(
        "sqlite", sqlite_gancio.source, uploads, sqlite_gancio.expected, sqlite_gancio.base_url
    )
    report = run_import(target, fixture)
    assert report.thumbnails_made == 1
    assert report.files_missing == [gone]
    assert any(gone in warning for warning in report.warnings)
    assert (target.state.config.media_dir / "thumb" / name).stat().st_size > 0


def test_a_different_base_url_is_warned_about(make_config, sqlite_gancio):
    from tests.conftest import empty_database

    application = create_app(make_config(base_url="https://agenda.example.org"))
    try:
        report = run_import(application, sqlite_gancio, dry_run=True)
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()
    assert len(report.warnings) == 1
    assert "http://127.0.0.77:13120" in report.warnings[0] and "PIAZZA_BASE_URL" in report.warnings[0]


def test_the_command_imports_and_reports(tmp_path, sqlite_gancio, monkeypatch):
    # The command reads Gancio's config.json beside the uploads folder; here it is next to a copy.
    gancio_dir = tmp_path / "gancio"
    shutil.copytree(FIXTURES / "sqlite" / "uploads", gancio_dir / "uploads")
    shutil.copyfile(FIXTURES / "sqlite" / "config.json", gancio_dir / "config.json")
    env = {
        "PIAZZA_DATABASE_URL": f"sqlite:///{tmp_path / 'piazza.sqlite3'}",
        "PIAZZA_DATA_DIR": str(tmp_path / "data"),
        "PIAZZA_SECRET_KEY": "k" * 40,
        "PIAZZA_BASE_URL": "https://elsewhere.example.org",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = ["import-gancio", sqlite_gancio.source, "--media", str(gancio_dir / "uploads")]
    runner = CliRunner()
    dry = runner.invoke(cli_app, [*args, "--dry-run"])
    assert dry.exit_code == 2 and "piazza migrate" in dry.output  # a dry run does not create the schema
    done = runner.invoke(cli_app, args)
    assert done.exit_code == 0, done.output
    assert "events" in done.output and "skipped oauth_clients self" in done.output
    assert "http://127.0.0.77:13120" in done.output  # the base URL warning
    again = runner.invoke(cli_app, args)
    assert again.exit_code == 2 and "--force" in again.output
    dry = runner.invoke(cli_app, [*args, "--dry-run", "--force"])
    assert dry.exit_code == 0 and "Dry run" in dry.output


def _media_names(fixture: GancioFixture) -> set[str]:
    return {m["url"] for e in fixture.expected["events"] for m in e["media"]}
