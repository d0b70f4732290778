"""The data version: a number that changes in every transaction that changes what the agenda shows.

Big answers (the full listing, the feeds) are kept and served again while it stays the same
(`piazza.db.answers`). Triggers made by migration 0013 bump it inside the writing transaction itself,
for every insert, update and delete of the tables below, whoever writes (a request, the recurrence
generator, `piazza settings set`, an import, a hand-written SQL statement), so the bump commits or
rolls back with the change, and every node and worker reading the database sees it at once.

On PostgreSQL a transaction bumps one of `SHARDS` rows, chosen by its transaction id, so concurrent
writers rarely wait on one another's row lock, and never on two (no deadlock); the version is the sum
of the rows. SQLite has one writer at a time and uses row 0 only.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from piazza.db.base import Base

# Every table an answer kept by the answer cache is written from.
VERSIONED_TABLES = ("events", "event_tags", "tags", "places", "settings", "collections", "filters")
SHARDS = 16


class DataVersion(Base):
    __tablename__ = "data_versions"

    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)


_READ = select(func.coalesce(func.sum(DataVersion.version), 0))


def read_data_version(db: Session) -> int:
    """The data version now. Read it *before* what it versions: a change committed between the two
    reads then leaves the answer under the older number, which is no longer current (never the
    reverse)."""
    return int(db.connection().execute(_READ).scalar_one())
