"""Declarative base, shared column types and the constraint naming convention."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Dialect, MetaData, Result
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names on both databases, so migrations can refer to them (alembic naming.rst).
# The largest id a row can have: primary keys are INTEGER, 32 bits on PostgreSQL. A larger id names no
# row, and binding one overflows the column (a DataError, which was a 500).
MAX_ROW_ID = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back as an aware UTC datetime.

    SQLite has no time zones and PostgreSQL's `timestamp with time zone` converts on read; storing naive
    UTC in both keeps comparisons and the schema identical across the two databases.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """PostgreSQL's naive datetime, made aware (SQLite's text is read by `result_processor`)."""
        return None if value is None else value.replace(tzinfo=UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        if dialect.name == "sqlite":
            return _sqlite_text_to_utc
        return super().result_processor(dialect, coltype)


# SQLite keeps timestamps as text (`2026-11-27 18:09:41.035123`, or without the fraction from a server
# default). Reading one through SQLAlchemy's regex parser took 1.6 µs, and a page of the listing reads
# the same fifty on every request; a datetime is immutable, so the parsed value can be shared.
@functools.lru_cache(maxsize=4096)
def _sqlite_text_to_utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def affected_rows(result: Result[Any]) -> int:
    """The number of rows an UPDATE or DELETE matched. `Session.execute` is typed as returning a plain
    `Result`; for these statements it is a `CursorResult`, which has the count."""
    return cast(CursorResult[Any], result).rowcount


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row INSERT made (SQLAlchemy types it as possibly absent)."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    value: int = key[0]
    return value
