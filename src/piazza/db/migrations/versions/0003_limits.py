"""rate-limit counters, for nodes that share a database instead of Redis

Revision ID: 0003_limits
Revises: 0002_oauth
Created: 2026-11-27 19:41:23.776702

A migration must run on SQLite and PostgreSQL, and must not break a node still running the previous
release: add first, backfill, and remove only in a later release.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_limits"
down_revision: str | None = "0002_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_counters_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_counters_expires_at"))
    op.drop_table("rate_limit_counters")
