"""Crash safety: `piazza serve` is SIGKILLed while events are written and tokens refreshed, then restarted.

Every write that was answered 200 must be there, whole (its tags and place); nothing half-written may
exist; every refresh answered 200 must have left its new token working and its old one dead; and the
database must pass its integrity check. Several rounds, on SQLite and (PIAZZA_TEST_DATABASE_URL) on
PostgreSQL. No timing is asserted: the kill comes after enough answers, whenever they come.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select, text

from piazza.accounts.models import Role, User
from piazza.db import Database
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.oauth.models import Token
from tests.conftest import empty_database
from tests.factories import DEFAULT_PASSWORD, bearer, make_token, make_user
from tests.servers import PiazzaProcess

pytestmark = pytest.mark.slow

ROUNDS = 3
WRITERS = 4
REFRESHERS = 2
ACKED_WRITES_BEFORE_KILL = 30
ACKED_REFRESHES_BEFORE_KILL = 6


@dataclass
class Chain:
    """One refresh-token family, rotated again and again by one thread."""

    access: str
    refresh: str
    rotations: list[tuple[str, str, str, str]] = field(default_factory=list)  # old access/refresh, new
    in_flight: bool = False  # a refresh was sent and never answered: its outcome is unknown


@dataclass
class Round:
    prefix: str
    sent: dict[str, dict] = field(default_factory=dict)  # title -> body, answered or not
    acked: dict[str, int] = field(default_factory=dict)  # title -> id, for the 200 answers
    chains: list[Chain] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(server: PiazzaProcess, token: str, state: Round, number: int) -> None:
    with httpx.Client(base_url=server.url, headers=bearer(token), timeout=30) as http:
        n = 0
        while not state.stop.is_set():
            n += 1
            title = f"{state.prefix} w{number} e{n}"
            body = {
                "title": title,
                "start_datetime": int(time.time()) + 86400 + n,
                "place_name": f"{state.prefix} place {number}",
                "place_address": "1 Main Street",
                "tags": [f"{state.prefix}-w{number}", f"n{n}", "crash"],
            }
            with state.lock:
                state.sent[title] = body
            try:
                response = http.post("/api/event", json=body)
            except httpx.TransportError:
                return  # the server died under this request: its outcome is unknown
            assert response.status_code == 200, response.text
            with state.lock:
                state.acked[title] = response.json()["id"]


def _refresher(server: PiazzaProcess, chain: Chain, state: Round) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        while not state.stop.is_set():
            chain.in_flight = True
            try:
                response = http.post(
                    "/oauth/token",
                    data={"grant_type": "refresh_token", "refresh_token": chain.refresh, "client_id": "self"},
                )
            except httpx.TransportError:
                return
            assert response.status_code == 200, response.text
            chain.in_flight = False
            issued = response.json()
            chain.rotations.append(
                (chain.access, chain.refresh, issued["access_token"], issued["refresh_token"])
            )
            chain.access, chain.refresh = issued["access_token"], issued["refresh_token"]


def _login(server: PiazzaProcess, email: str) -> Chain:
    response = httpx.post(
        f"{server.url}/oauth/login",
        data={"username": email, "password": DEFAULT_PASSWORD, "client_id": "self", "grant_type": "password"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Chain(access=body["access_token"], refresh=body["refresh_token"])


def _fire_and_kill(server: PiazzaProcess, token: str, state: Round) -> None:
    threads = [
        threading.Thread(target=_writer, args=(server, token, state, n), daemon=True) for n in range(WRITERS)
    ] + [threading.Thread(target=_refresher, args=(server, c, state), daemon=True) for c in state.chains]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion
    while time.monotonic() < deadline:
        refreshed = sum(len(c.rotations) for c in state.chains)
        if len(state.acked) >= ACKED_WRITES_BEFORE_KILL and refreshed >= ACKED_REFRESHES_BEFORE_KILL:
            break
        time.sleep(0.01)
    server.kill()  # mid-way: every thread has a request in flight or about to be
    state.stop.set()
    for thread in threads:
        thread.join(timeout=60)


def _check_events(http: httpx.Client, db: Database, state: Round) -> int:
    for title, event_id in state.acked.items():
        response = http.get(f"/api/event/detail/{event_id}")
        assert response.status_code == 200, (title, response.text)
        event = response.json()
        sent = state.sent[title]
        assert event["title"] == title
        assert sorted(event["tags"]) == sorted(sent["tags"])
        assert event["place"]["name"] == sent["place_name"]
    # Events that reached the database without their answer must be whole too: never a title
    # without its tags or its place.
    with db.session() as s:
        rows = s.execute(
            select(Event.id, Event.title, Place.name)
            .outerjoin(Place, Place.id == Event.place_id)
            .where(Event.title.like(f"{state.prefix} %"))
        ).all()
        for event_id, title, place in rows:
            tags = s.scalars(select(EventTag.tag).where(EventTag.event_id == event_id)).all()
            assert sorted(tags) == sorted(state.sent[title]["tags"]), title
            assert place == state.sent[title]["place_name"], title
        assert len(rows) >= len(state.acked)
    return len(state.acked)


def _check_tokens(http: httpx.Client, state: Round) -> int:
    checked = 0
    for chain in state.chains:
        if chain.rotations and not chain.in_flight:
            # The last answered rotation is the live one: its access token works, its refresh token
            # rotates once more.
            assert http.get("/api/user", headers=bearer(chain.access)).status_code == 200
        for old_access, _, _, _ in chain.rotations:
            assert http.get("/api/user", headers=bearer(old_access)).status_code == 401
            checked += 1
    for chain in state.chains:
        for _, old_refresh, _, _ in chain.rotations[-1:]:
            # Last, as reuse revokes the family (RFC 9700 §4.14.2): an old refresh token is refused.
            reuse = http.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": "self"},
            )
            assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    return checked


def _check_no_orphans(db: Database, is_postgres: bool) -> None:
    with db.session() as s:
        orphans = {
            "event_tags without event": select(func.count())
            .select_from(EventTag)
            .outerjoin(Event, Event.id == EventTag.event_id)
            .where(Event.id.is_(None)),
            "event_tags without tag": select(func.count())
            .select_from(EventTag)
            .outerjoin(Tag, Tag.tag == EventTag.tag)
            .where(Tag.tag.is_(None)),
            "events without their place": select(func.count())
            .select_from(Event)
            .outerjoin(Place, Place.id == Event.place_id)
            .where(Event.place_id.is_not(None), Place.id.is_(None)),
            "tokens without user": select(func.count())
            .select_from(Token)
            .outerjoin(User, User.id == Token.user_id)
            .where(User.id.is_(None)),
        }
        for name, statement in orphans.items():
            assert s.execute(statement).scalar() == 0, name
        if not is_postgres:
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert s.execute(text("PRAGMA foreign_key_check")).all() == []


def test_a_killed_server_loses_no_answered_write_and_leaves_nothing_half_written(
    database_url, is_postgres, tmp_path
):
    db = Database(database_url)
    server = PiazzaProcess(database_url, tmp_path / "data")
    admin = make_user(db, f"crash-{secrets.token_hex(3)}@example.org", role=Role.ADMIN)
    token = make_token(db, admin)
    writes = rotations = 0
    try:
        for round_number in range(ROUNDS):
            server.start()
            state = Round(prefix=f"r{round_number}-{secrets.token_hex(3)}")
            state.chains = [_login(server, admin.email) for _ in range(REFRESHERS)]
            _fire_and_kill(server, token, state)
            server.start()  # the same database, after a crash
            with httpx.Client(base_url=server.url, timeout=30) as http:
                writes += _check_events(http, db, state)
                rotations += _check_tokens(http, state)
            _check_no_orphans(db, is_postgres)
            server.stop()
        print(f"{ROUNDS} rounds survived; {writes} answered writes and {rotations} rotations checked")  # noqa: T201
        assert writes >= ROUNDS * ACKED_WRITES_BEFORE_KILL
    finally:
        server.kill()
        empty_database(db)
        db.dispose()
