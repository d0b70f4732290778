"""Reading a Gancio database, read-only, on SQLite, PostgreSQL or MariaDB/MySQL (gancio-import.md §2, §9).

The source is never written: SQLite is opened with `mode=ro`, PostgreSQL sessions default to read-only
transactions, and MariaDB sessions are set read-only before the first statement. Columns are
introspected rather than assumed from a version, and every value is read through the coercions below,
because Sequelize stored the same type differently on each engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, Engine, column, create_engine, event, func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from piazza.errors import Invalid

READ_BATCH = 5000


class SourceError(Invalid):
    """The source cannot be opened or is not a Gancio database Piazza can import."""


@dataclass
class GancioSource:
    """An open, read-only connection to a Gancio database and the columns each of its tables has."""

    engine: Engine
    connection: Connection
    dialect: str  # sqlite, postgresql or mysql
    columns: dict[str, list[str]] = field(default_factory=dict)

    def has(self, table_name: str, column_name: str | None = None) -> bool:
        if table_name not in self.columns:
            return False
        return column_name is None or column_name in self.columns[table_name]

    def count(self, table_name: str) -> int:
        if table_name not in self.columns:
            return 0
        return int(self.connection.execute(select(func.count()).select_from(table(table_name))).scalar_one())

    def rows(self, table_name: str, order_by: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every row of the table as a dict of the columns it really has (none when it is missing)."""
        names = self.columns.get(table_name)
        if not names:
            return
        source_table = table(table_name, *(column(name) for name in names))
        stmt = select(*source_table.c)
        present = [name for name in order_by if name in names]
        if present:
            stmt = stmt.order_by(*(source_table.c[name] for name in present))
        result = self.connection.execution_options(stream_results=True, yield_per=READ_BATCH).execute(stmt)
        with result:  # closes the server-side cursor also when the reader stops early
            for row in result:
                yield dict(zip(names, row, strict=True))

    def close(self) -> None:
        try:
            self.connection.rollback()
        finally:
            self.connection.close()
            self.engine.dispose()


def _sqlite_url(path: Path) -> str:
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    return f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"


def open_source(source: str) -> GancioSource:
    """Open SOURCE: a SQLite file (path or sqlite:/// URL), a postgresql:// or a mysql:// / mariadb://
    URL. Raises SourceError with a message for the admin."""
    connect_args: dict[str, Any] = {}
    if "://" not in source:
        url = _sqlite_url(Path(source))
    else:
        try:
            parsed = make_url(source)
        except ArgumentError:
            raise SourceError(f"not a database URL or file: {source!r}") from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            url = _sqlite_url(Path(parsed.database or ""))
        elif backend in ("postgresql", "postgres"):
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            # The server refuses every write in these sessions, whatever the importer does.
            connect_args = {"options": "-c default_transaction_read_only=on"}
        elif backend in ("mysql", "mariadb"):
            try:
                import pymysql  # type: ignore[import-untyped]  # noqa: F401  (optional extra: piazza[gancio])
            except ImportError:
                raise SourceError(
                    "reading MariaDB/MySQL needs PyMySQL: pip install 'piazza[gancio]'"
                ) from None
            query = dict(parsed.query)
            query.setdefault("charset", "utf8mb4")
            url = parsed.set(drivername="mysql+pymysql", query=query).render_as_string(hide_password=False)
        else:
            raise SourceError(f"unsupported source database {backend!r}: use SQLite, PostgreSQL or MariaDB")
    engine = create_engine(url, connect_args=connect_args)
    dialect = engine.dialect.name
    if dialect == "mysql":

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute("SET time_zone = '+00:00'")  # DATETIME values are UTC (Sequelize)

    if dialect == "postgresql":

        @event.listens_for(engine, "connect")
        def _json_as_text(dbapi_connection: Any, _record: Any) -> None:
            from psycopg.types.json import set_json_loads

            # JSON columns as their text, as the other engines give them: decoded once, in as_json.
            set_json_loads(_text_of, dbapi_connection)

    try:
        connection = engine.connect()
        if dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA query_only = ON")
        tables = inspect(connection).get_table_names()
        columns = {name: _column_names(connection, name) for name in tables}
    except SQLAlchemyError as exc:
        engine.dispose()
        raise SourceError(f"cannot read the Gancio database: {_first_line(exc)}") from None
    opened = GancioSource(engine, connection, dialect, columns)
    check_schema(opened)
    return opened


def _text_of(data: str | bytes) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else data


def _column_names(connection: Connection, table_name: str) -> list[str]:
    """The columns the table really has (an empty query's keys: no type reflection, any engine)."""
    result = connection.execute(select(text("*")).select_from(table(table_name)).limit(0))
    names = list(result.keys())
    result.close()
    return names


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


REQUIRED = {
    "users": ("id", "email", "password", "is_active"),
    "events": ("id", "title", "slug", "start_datetime", "placeId", "userId", "parentId"),
    "places": ("id", "name"),
    "tags": ("tag",),
    "event_tags": ("eventId", "tagTag"),
    "settings": ("key", "value"),
}


def check_schema(source: GancioSource) -> None:
    """Refuse databases that are not Gancio's, or too old to import (gancio-import.md §10)."""
    if "cohorts" in source.columns and "collections" not in source.columns:
        raise SourceError(
            "this Gancio database is older than 1.21 (it still has `cohorts`): upgrade Gancio to 1.21 or "
            "later and run `gancio migrate` first"
        )
    for table_name, needed in REQUIRED.items():
        if table_name not in source.columns:
            raise SourceError(f"not a Gancio database: table {table_name!r} is missing")
        missing = [name for name in needed if name not in source.columns[table_name]]
        if missing:
            raise SourceError(
                f"table {table_name!r} lacks {', '.join(missing)}: upgrade Gancio to 1.21 or later and run "
                "`gancio migrate` first"
            )


# Coercions. Each returns None for NULL and raises ValueError for a value it cannot read.

_INTEGER = re.compile(r"\s*-?[0-9]+\s*")


def as_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueError(f"not an integer: {str(value)[:40]!r}")


def as_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "t"):
            return True
        if lowered in ("0", "false", "f", ""):
            return False
    raise ValueError(f"not a boolean: {str(value)[:40]!r}")


def as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def as_json(value: Any) -> Any:
    """A JSON column's value: parsed from text where the driver gave text, decoded a second time when
    the text held a JSON-encoded array or object (double-encoded values from old MariaDB installs)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        return value
    decoded = orjson.loads(value)  # orjson.JSONDecodeError is a ValueError
    if isinstance(decoded, str) and decoded.strip()[:1] in ("[", "{"):
        try:
            return orjson.loads(decoded)
        except ValueError:
            return decoded
    return decoded


def as_datetime(value: Any) -> datetime | None:
    """Sequelize's DATE: an aware datetime (PostgreSQL), naive UTC (MariaDB), or text with an offset
    such as `2026-12-01 19:09:57.123 +00:00` (SQLite)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip().replace(" +", "+").replace(" -", "-")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
