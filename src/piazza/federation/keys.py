"""The instance actor's RSA key pair (gancio-federation.md §2.3): generated once, on first need, and
kept in `ap_instance_keys` (one row, id 1). Remote servers cache the public key with the actor URL, so
it must never change by accident: two workers (or two nodes) that find no key at the same time each
generate one, but only the first insert wins and both then use the stored pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from piazza.db import Database
from piazza.db.base import utcnow
from piazza.federation.models import InstanceKey

KEY_ROW_ID = 1
KEY_SIZE = 2048  # §19.1: 2048 bits or more; Gancio's 4096 costs seconds to generate for no gain here


@dataclass(frozen=True)
class KeyPair:
    public_key_pem: str  # SPKI
    private_key_pem: str  # PKCS#8: a secret, never served or logged

    def __repr__(self) -> str:
        return "KeyPair(public_key_pem=..., private_key_pem=<secret>)"


def generate_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return KeyPair(public, private)


_SELECT_KEY = select(InstanceKey.public_key_pem, InstanceKey.private_key_pem).where(
    InstanceKey.id == KEY_ROW_ID
)


def stored_key_pair(db: Session) -> KeyPair | None:
    row = db.execute(_SELECT_KEY).first()
    return KeyPair(row[0], row[1]) if row is not None else None


def _insert_if_absent(db: Session, pair: KeyPair) -> KeyPair:
    """Insert `pair` unless a row exists (the other writer's insert is kept), then read the row: in
    this same transaction, so what is returned is what is stored."""
    values = {
        "id": KEY_ROW_ID,
        "public_key_pem": pair.public_key_pem,
        "private_key_pem": pair.private_key_pem,
        "created_at": utcnow(),
    }
    dialect = sqlite if db.get_bind().dialect.name == "sqlite" else postgresql
    db.execute(dialect.insert(InstanceKey).values(**values).on_conflict_do_nothing(index_elements=["id"]))
    stored = stored_key_pair(db)
    assert stored is not None  # inserted, or kept from the writer that came first
    return stored


def ensure_key_pair(database: Database, generate: Callable[[], KeyPair] = generate_key_pair) -> KeyPair:
    """The stored key pair, created on first need. The key is generated outside any transaction (it
    takes a fraction of a second) and written in one transaction, safe against a concurrent creator."""
    with database.session(write=False) as db:
        stored = stored_key_pair(db)
    if stored is not None:
        return stored
    candidate = generate()
    with database.session() as db:
        return _insert_if_absent(db, candidate)
