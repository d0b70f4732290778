import bcrypt

from piazza.accounts.passwords import hash_password, verify_password


def test_new_hashes_are_argon2():
    assert hash_password("a long password").startswith("$argon2id$")


def test_argon2_hash_verifies():
    stored = hash_password("a long password")
    assert verify_password("a long password", stored) == (True, None)
    assert verify_password("another password", stored) == (False, None)


def test_gancio_bcrypt_hash_verifies_and_is_upgraded():
    gancio_hash = bcrypt.hashpw(b"gancio password", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    ok, new_hash = verify_password("gancio password", gancio_hash)
    assert ok
    assert new_hash is not None and new_hash.startswith("$argon2id$")
    assert verify_password("wrong", gancio_hash)[0] is False


def test_missing_or_corrupt_hash_never_verifies():
    assert verify_password("x", None) == (False, None)
    assert verify_password("x", "not-a-hash") == (False, None)
