"""Password hashing: argon2 for new hashes; bcrypt hashes imported from Gancio still verify."""

from __future__ import annotations

import secrets
import threading

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

_hasher = PasswordHash((Argon2Hasher(), BcryptHasher()))
_bcrypt = BcryptHasher()
# bcrypt reads only the first 72 bytes of a password: Gancio's bcryptjs dropped the rest silently, while
# Python's bcrypt refuses longer input, which would lock out every imported user with a long password.
BCRYPT_MAX_BYTES = 72
# Verified against when the user is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
# Each argon2 hash or check takes 64 MiB and a core for tens of milliseconds. Without a bound, a burst
# of logins on the thread pool's 40 threads would take 2.5 GiB; with it they queue, two at a time.
HASHING_AT_ONCE = 2
_hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

MIN_PASSWORD_LENGTH = 8
GENERATED_PASSWORD_BYTES = 12


def hash_password(password: str) -> str:
    with _hashing:
        return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check a password; also return a new hash when the stored one should be upgraded (bcrypt)."""
    if not password_hash:
        burn_verification_time(password)
        return False, None
    with _hashing:
        try:
            if _bcrypt.identify(password_hash):
                # What bcryptjs hashed: the first 72 bytes of the UTF-8 password. On success the whole
                # password is hashed with argon2, so the limit ends with the next login.
                if not _bcrypt.verify(password.encode("utf-8")[:BCRYPT_MAX_BYTES], password_hash):
                    return False, None
                return True, _hasher.hash(password)
            return _hasher.verify_and_update(password, password_hash)
        except Exception:  # an unknown or corrupt hash format is a failed login, not a crash
            return False, None


def burn_verification_time(password: str) -> None:
    """Spend the time of one verification, for logins of unknown users."""
    with _hashing:
        _hasher.verify(password, _DUMMY_HASH)


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
