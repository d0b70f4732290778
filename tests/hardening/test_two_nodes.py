"""Two `piazza serve` nodes on one PostgreSQL database share everything that matters (design.md,
"Storage and scale"): a code issued on A is redeemed on B, a token revoked on B fails on A at once, and
rate-limit counters add up across both (in the database, or in Redis when PIAZZA_REDIS_URL is set).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from piazza.db import Database
from tests.conftest import empty_database
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.oauth.flow import REDIRECT, csrf_of, hidden_fields, pkce_pair
from tests.servers import PiazzaProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("PIAZZA_TEST_DATABASE_URL"),
        reason="two nodes need PostgreSQL (PIAZZA_TEST_DATABASE_URL)",
    ),
]

# A database number of its own, emptied before and after: the suites in tests/limits use 0.
REDIS_URL = "redis://127.0.0.1:6379/13"


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture
def shared_db(database_url) -> Iterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        empty_database(db)
        db.dispose()


def start_nodes(database_url: str, tmp_path, **env: str) -> tuple[PiazzaProcess, PiazzaProcess]:
    """Two nodes, each with its own data directory, the same database and the same secret key."""
    nodes = (
        PiazzaProcess(database_url, tmp_path / "node-a" / "data", **env),
        PiazzaProcess(database_url, tmp_path / "node-b" / "data", **env),
    )
    for node in nodes:
        node.start()
    return nodes


@pytest.fixture(scope="module")
def nodes(database_url, tmp_path_factory) -> Iterator[tuple[PiazzaProcess, PiazzaProcess]]:
    """Started once for the module: the nodes keep no state, so emptying the database between tests
    is all the isolation they need (that is the property under test)."""
    a, b = start_nodes(database_url, tmp_path_factory.mktemp("nodes"))
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def register_app(node: PiazzaProcess) -> tuple[str, str]:
    response = httpx.post(
        f"{node.url}/api/client",
        json={"client_name": "Two nodes", "redirect_uris": REDIRECT, "scopes": "event:write"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["client_id"], response.json()["client_secret"]


def approve_on(node: PiazzaProcess, email: str, client_id: str, challenge: str) -> str:
    """Log in through the web form of `node`, approve the consent there, return the code."""
    with httpx.Client(base_url=node.url, timeout=30) as browser:
        login_page = browser.get("/login")
        logged_in = browser.post(
            "/login",
            data={
                "csrf_token": csrf_of(login_page.text),
                "next": "/",
                "email": email,
                "password": DEFAULT_PASSWORD,
            },
        )
        assert logged_in.status_code in (200, 303), logged_in.text
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "two-nodes",
            "scope": "event:write",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        consent = browser.get("/oauth/authorize", params=params)
        assert consent.status_code == 200, consent.text
        fields = {**hidden_fields(consent.text), "decision": "approve"}
        decision = browser.post("/oauth/authorize", data=fields)
        assert decision.status_code == 302, decision.text
        query = parse_qs(urlsplit(decision.headers["location"]).query)
        assert query["state"] == ["two-nodes"]
        return query["code"][0]


def test_a_code_approved_on_one_node_is_redeemed_on_the_other_and_revocation_is_seen_at_once(
    nodes, shared_db
):
    a, b = nodes
    user = make_user(shared_db, f"nodes-{secrets.token_hex(3)}@example.org")
    client_id, secret = register_app(a)
    verifier, challenge = pkce_pair()
    code = approve_on(a, user.email, client_id, challenge)

    token = httpx.post(
        f"{b.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    auth = {"Authorization": f"Bearer {access}"}
    # The token works on both nodes (event:write lets it list the user's events).
    assert httpx.get(f"{a.url}/api/events/mine", headers=auth, timeout=30).status_code == 200
    assert httpx.get(f"{b.url}/api/events/mine", headers=auth, timeout=30).status_code == 200

    # The code is single use on every node: a replay on A fails.
    replay = httpx.post(
        f"{a.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    assert replay.status_code == 400

    fresh = httpx.post(
        f"{b.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token.json()["refresh_token"],
            "client_id": client_id,
            "client_secret": secret,
        },
        timeout=30,
    )
    # The replay above revoked everything issued from that code (design.md), on both nodes.
    assert fresh.status_code == 400
    assert httpx.get(f"{a.url}/api/events/mine", headers=auth, timeout=30).status_code == 401


def test_a_token_revoked_on_one_node_fails_on_the_other_at_once(nodes, shared_db):
    a, b = nodes
    user = make_user(shared_db, f"nodes-{secrets.token_hex(3)}@example.org")
    client_id, secret = register_app(a)
    verifier, challenge = pkce_pair()
    code = approve_on(a, user.email, client_id, challenge)
    issued = httpx.post(
        f"{a.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
        timeout=30,
    ).json()
    auth = {"Authorization": f"Bearer {issued['access_token']}"}
    # A has just accepted the token (and may remember it): the revocation on B must still win.
    assert httpx.get(f"{a.url}/api/events/mine", headers=auth, timeout=30).status_code == 200

    revoked = httpx.post(
        f"{b.url}/oauth/revoke",
        data={"token": issued["access_token"], "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text
    assert httpx.get(f"{a.url}/api/events/mine", headers=auth, timeout=30).status_code == 401
    assert httpx.get(f"{b.url}/api/events/mine", headers=auth, timeout=30).status_code == 401


def _registrations_counted_across(a: PiazzaProcess, b: PiazzaProcess) -> list[int]:
    body = {"client_name": "Counted", "redirect_uris": REDIRECT}
    statuses = [httpx.post(f"{a.url}/api/client", json=body, timeout=30).status_code for _ in range(3)]
    statuses += [httpx.post(f"{b.url}/api/client", json=body, timeout=30).status_code for _ in range(4)]
    return statuses


@pytest.mark.parametrize("storage", ["database", "redis"])
def test_rate_limits_count_requests_on_both_nodes_together(storage, database_url, tmp_path, shared_db):
    env = {"PIAZZA_RATE_LIMITS": "on"}
    if storage == "redis":
        if not redis_answers():
            pytest.skip("no Redis server answers on 127.0.0.1:6379")
        _flush_redis()
        env["PIAZZA_REDIS_URL"] = REDIS_URL
    a, b = start_nodes(database_url, tmp_path, **env)
    try:
        # Gancio's SPAM limit on client registration is 6 per 5 minutes per address (§0.7): 3 on A and
        # 3 on B pass, and the 7th, on B, is refused because A's 3 count there too.
        assert _registrations_counted_across(a, b) == [200] * 6 + [429]
    finally:
        a.stop()
        b.stop()
        if storage == "redis":
            _flush_redis()
