from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from piazza.db.base import Base, UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    USER = "user"


class User(Base):
    """Gancio's `users` table. `is_admin`/`is_editor` are derived from `role`, never stored."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'editor', 'user')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased and trimmed: one account per address, however it is typed at login.
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password: Mapped[str | None] = mapped_column(String(255))  # argon2 (or imported bcrypt) hash
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    is_active: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[Any] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    # SHA-256 digest of a pending recovery or invitation code; never the code itself.
    recover_code: Mapped[str | None] = mapped_column(String(64), index=True)
    recover_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An admin's invitation has its own code, so that asking for a recovery link does not cancel it.
    invite_code: Mapped[str | None] = mapped_column(String(64), index=True)
    invite_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised at logout and at every password change; a login session carries the value it was opened
    # under (oauth.service.login_fingerprint), so each of them ends every copy of every older session.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_editor(self) -> bool:
        return self.role == Role.EDITOR
