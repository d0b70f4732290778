"""a data version bumped by triggers in every transaction that changes the agenda (issue 21)

Revision ID: 0013_data_version
Revises: 0012_sessions_and_invitations
Created: 2026-12-01 21:00:00

The answer cache (piazza/db/answers.py) keeps big answers while this number stays the same. Triggers,
not application code, bump it: then no writer can forget, whatever program writes. See
piazza/db/versions.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_data_version"
down_revision: str | None = "0012_sessions_and_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As piazza.db.versions (a migration keeps its own copy: the module may change later).
TABLES = ("events", "event_tags", "tags", "places", "settings", "collections", "filters")
SHARDS = 16
PG_FUNCTION = "piazza_bump_data_version"
SQLITE_BUMP = (
    "INSERT INTO data_versions (shard, version) VALUES (0, 1)"
    " ON CONFLICT (shard) DO UPDATE SET version = version + 1"
)


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_data_versions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # One row per transaction (by its id), so two writers wait on each other only when they share a
        # shard, and a transaction never holds two shards (no deadlock between bumps).
        op.execute(  # built from this module's constants only
            f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO data_versions (shard, version) VALUES ((txid_current() % {SHARDS})::int, 1)
                ON CONFLICT (shard) DO UPDATE SET version = data_versions.version + 1;
                RETURN NULL;
            END $$
            """  # noqa: S608
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER data_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
                f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        return
    for table in TABLES:
        for operation in ("INSERT", "UPDATE", "DELETE"):
            # Built from this module's constants only.
            trigger = f"data_version_{table}_{operation.lower()} AFTER {operation} ON {table}"
            op.execute(f"CREATE TRIGGER {trigger} BEGIN {SQLITE_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS data_version_{table} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        for table in TABLES:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS data_version_{table}_{operation}")
    op.drop_table("data_versions")
