"""Token values and their digests, shared by the grants, the bearer check and account changes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import update
from sqlalchemy.orm import Session

from piazza.db.base import affected_rows, utcnow
from piazza.oauth.models import Token

TOKEN_BYTES = 20  # 40 lowercase hex characters: survives WordPress's sanitize_key() untouched


def generate_token() -> str:
    """A new client id, secret, code or token: 160 random bits as 40 lowercase hex characters."""
    return secrets.token_hex(TOKEN_BYTES)


def digest(value: str) -> str:
    """The SHA-256 hex digest under which a secret value is stored and looked up."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def check_secret(value: str, stored_digest: str | None) -> bool:
    """Compare a presented secret with a stored digest in constant time."""
    if not stored_digest:
        return False
    return hmac.compare_digest(digest(value), stored_digest)


def revoke_tokens_of_user(db: Session, user_id: int, client_id: str | None = None) -> int:
    """Revoke every live token of a user (of one client only, when given); returns how many."""
    stmt = update(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None))
    if client_id is not None:
        stmt = stmt.where(Token.client_id == client_id)
    return affected_rows(db.execute(stmt.values(revoked_at=utcnow())))
