"""The instance key pair: generated once, stored, the same for every worker (gancio-federation.md §2.3)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from piazza.db import Database
from piazza.federation.keys import KeyPair, ensure_key_pair, generate_key_pair
from piazza.federation.models import InstanceKey


def _count(db: Database) -> int:
    with db.session(write=False) as s:
        return s.scalar(select(func.count()).select_from(InstanceKey)) or 0


def test_generated_once_and_kept(db: Database) -> None:
    first = ensure_key_pair(db)
    assert first.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert first.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(first.private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert ensure_key_pair(db, generate=lambda: (_ for _ in ()).throw(AssertionError("regenerated"))) == first
    assert _count(db) == 1
    assert "PRIVATE" not in repr(first)


def test_two_workers_creating_it_at_once_agree(db: Database, database_url: str) -> None:
    """Both find no key and generate one; one insert wins and both use the stored pair."""
    other = Database(database_url)
    both_generated = threading.Barrier(2, timeout=30)
    pairs = [generate_key_pair(), generate_key_pair()]

    def generate_for(index: int) -> KeyPair:
        both_generated.wait()  # neither writes before both have looked and found nothing
        return pairs[index]

    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(
                pool.map(
                    lambda args: ensure_key_pair(args[0], generate=lambda: generate_for(args[1])),
                    [(db, 0), (other, 1)],
                )
            )
    finally:
        other.dispose()
    assert results[0] == results[1]
    assert results[0] in pairs
    assert _count(db) == 1
