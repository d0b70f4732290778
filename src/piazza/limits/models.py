"""The rate-limit counter table, used when no Redis is configured."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from piazza.db.base import Base


class RateLimitCounter(Base):
    """How many requests (or failures) one key made in one window; a request is weighed against the
    current and the previous window's rows (storage.py, sliding windows).

    Times are unix seconds: `window_start` names the window and `expires_at` (the end of the window
    after it, once the row stopped serving as the previous one) says when the row may be deleted. Keys
    never hold an address or a user name in clear (see `ratelimit.counter_key`).
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
