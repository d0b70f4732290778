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


def test_at_most_two_argon2_computations_run_at_once(monkeypatch):
    """Each takes 64 MiB: a burst of logins queues instead of taking gigabytes."""
    import threading
    import time

    from piazza.accounts import passwords

    running, most = 0, 0
    lock = threading.Lock()
    real = passwords._hasher

    class Watched:
        def __getattr__(self, name):
            method = getattr(real, name)

            def watched(*args, **kwargs):
                nonlocal running, most
                with lock:
                    running += 1
                    most = max(most, running)
                try:
                    time.sleep(0.02)
                    return method(*args, **kwargs)
                finally:
                    with lock:
                        running -= 1

            return watched

    monkeypatch.setattr(passwords, "_hasher", Watched())
    stored = real.hash("a long enough password")
    jobs = [lambda: passwords.verify_password("a long enough password", stored)] * 4
    jobs += [lambda: passwords.hash_password("another password")] * 2
    jobs += [lambda: passwords.verify_password("whatever", None)] * 2
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == passwords.HASHING_AT_ONCE == 2


def test_gancio_bcrypt_hash_of_a_password_longer_than_72_bytes_verifies_and_is_upgraded():
    """bcryptjs hashed only the first 72 bytes; Python's bcrypt refuses longer input (issue 18)."""
    password = "ñandú-ñandú-ñandú-árbol-café-pingüino-acción-canción-corazón-2025"  # 77 bytes
    assert len(password.encode()) > 72
    gancio_hash = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    ok, new_hash = verify_password(password, gancio_hash)
    assert ok
    assert new_hash is not None and new_hash.startswith("$argon2id$")
    assert verify_password(password, new_hash) == (True, None)  # argon2 of the whole password
    assert verify_password(password[:-1] + "6", new_hash)[0] is False
    assert verify_password("wrong", gancio_hash)[0] is False
