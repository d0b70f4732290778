"""events: no all-digit slugs, moderator-hidden events, pending places, http(s) online locations (issue 15)

Revision ID: 0011_event_hardening
Revises: 0007_listing_indexes
Created: 2026-12-01 21:00:00

A migration must run on SQLite and PostgreSQL, and must not break a node still running the previous
release: add first, backfill, and remove only in a later release. The two new columns have a server
default, so an older node's inserts (which do not name them) still work.

Backfills, each a pass over the events table:
- an all-digit slug (an event titled "4" got slug `4`, which shadowed event 4 in `/event/4`) becomes
  `event-<digits>`, or the first free `event-<digits>-N`; an all-digit path segment now always names an
  id. The rule is written out here rather than imported, so that this migration keeps doing what it did.
- a place that only hidden anonymous events use is pending (it was planted by an unconfirmed
  submission): not reused or shown until one of them is confirmed.
- online locations with a scheme other than http and https (`javascript:`, `data:`, ...) are removed.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0011_event_hardening"
down_revision: str | None = "0007_listing_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("slug", sa.String),
    sa.column("is_visible", sa.Boolean),
    sa.column("user_id", sa.Integer),
    sa.column("place_id", sa.Integer),
    sa.column("online_locations", sa.JSON),
)
places = sa.table("places", sa.column("id", sa.Integer), sa.column("pending", sa.Boolean))


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hidden_by_moderator", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False))
    connection = op.get_bind()
    _rename_digit_slugs(connection)
    _mark_pending_places(connection)
    _drop_unsafe_online_locations(connection)


def downgrade() -> None:
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_column("pending")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("hidden_by_moderator")


def _batches(connection: sa.Connection, *columns: Any, where: Any = sa.true()) -> Any:
    """The rows of `events` in id order, BATCH at a time (an agenda may hold a few hundred thousand)."""
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.id, *columns)
            .where(events.c.id > last, where)
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _rename_digit_slugs(connection: sa.Connection) -> None:
    taken = sa.select(events.c.id).where(events.c.slug == sa.bindparam("candidate")).limit(1)
    for rows in _batches(connection, events.c.slug, where=events.c.slug.is_not(None)):
        for row in rows:
            if not row.slug.isdigit():
                continue
            base, number = f"event-{row.slug}", 0
            candidate = base
            while connection.execute(taken, {"candidate": candidate}).first() is not None:
                number += 1
                candidate = f"{base}-{number}"
            connection.execute(events.update().where(events.c.id == row.id).values(slug=candidate))


def _mark_pending_places(connection: sa.Connection) -> None:
    used = sa.exists().where(events.c.place_id == places.c.id)
    public_use = sa.exists().where(
        events.c.place_id == places.c.id,
        sa.or_(events.c.is_visible.is_(True), events.c.user_id.is_not(None)),
    )
    connection.execute(places.update().where(used, ~public_use).values(pending=True))


def _is_safe_location(value: Any) -> bool:
    """Entries without a scheme are text that links nowhere harmful; schemes other than http(s) go."""
    if not isinstance(value, str):
        return False
    try:
        scheme = urlsplit(value.strip()).scheme.lower()
    except ValueError:
        return False
    return scheme in ("", "http", "https")


def _drop_unsafe_online_locations(connection: sa.Connection) -> None:
    for rows in _batches(connection, events.c.online_locations):
        for row in rows:
            locations = row.online_locations
            if not isinstance(locations, list) or all(_is_safe_location(item) for item in locations):
                continue
            kept = [item for item in locations if _is_safe_location(item)]
            connection.execute(events.update().where(events.c.id == row.id).values(online_locations=kept))
