"""login sessions end at logout; an invitation's code apart from recovery's (issue 15)

Revision ID: 0012_sessions_and_invitations
Revises: 0011_event_hardening
Created: 2026-12-01 21:20:00

Only additions, so a node still running the previous release keeps working beside a migrated one. An
invitation sent before this migration keeps its code in `recover_code`, where it still works.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_sessions_and_invitations"
down_revision: str | None = "0011_event_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invite_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("invite_code_expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_users_invite_code"), ["invite_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_invite_code"))
        batch_op.drop_column("session_generation")
        batch_op.drop_column("invite_code_expires_at")
        batch_op.drop_column("invite_code")
