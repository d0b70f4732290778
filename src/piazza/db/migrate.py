"""Alembic, driven from code: `piazza migrate`, `piazza serve` and the tests all call these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from piazza.db import all_models  # noqa: F401  (fills Base.metadata)
from piazza.db.base import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def refresh_statistics(url: str) -> None:
    """On SQLite, fresh planner statistics (`piazza serve` calls this at start). Without them, an agenda
    that grew from empty leaves SQLite to guess, and it guessed an index that walks every visible event
    for the tag and place feeds. `analysis_limit` bounds the work to a sample of each index. PostgreSQL
    keeps its own statistics (autovacuum)."""
    if not url.startswith("sqlite"):
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[object]:
    """What `alembic check` would report: differences between the migrated schema and the models."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()
