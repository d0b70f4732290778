"""No text with a NUL character reaches the database: the one check for every text input.

PostgreSQL cannot store NUL in text (psycopg raises DataError), so a NUL in a title, a description, a
place name, a tag, a user field or a query parameter used in a filter was a 500 there, and stored
as is on SQLite. Every statement's parameters pass through here on both databases, whichever route,
service or form they came from, so the answer is the same 400 everywhere and on both. Values bound
as JSON arrive already encoded, with NUL written as the escape `\\u0000`, which both store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, event

from piazza.errors import Invalid

NUL_REFUSED = "Bad Request: text may not contain NUL characters"


def refuse_nul_text(engine: Engine) -> None:
    """Raise Invalid (400), before the statement runs, when a text parameter holds a NUL."""

    @event.listens_for(engine, "before_cursor_execute")
    def _check(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
    ) -> None:
        # SQLAlchemy's batched INSERTs (insertmanyvalues) announce executemany with one flat row.
        many = (
            executemany
            and isinstance(parameters, list | tuple)
            and bool(parameters)
            and isinstance(parameters[0], dict | tuple | list)
        )
        rows = parameters if many else (parameters,)
        for row in rows:
            if _holds_nul(row.values() if isinstance(row, dict) else row):
                raise Invalid(NUL_REFUSED)


def _holds_nul(values: Iterable[Any] | None) -> bool:
    # A plain loop rather than any() over a generator: this runs for every statement, and the loop took
    # a fifth less time (2.6 against 3.3 µs for eight parameters, on a busy machine).
    for value in values or ():  # noqa: SIM110
        if value.__class__ is str and "\x00" in value:
            return True
    return False
