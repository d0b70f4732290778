"""Two admins demoting, deactivating or deleting each other at the same moment: one of them must stay.

Each round runs the two changes in two threads on the test's real database (SQLite or PostgreSQL), each
in its own write transaction, as two requests on two workers would. The race window is widened on
purpose: after its last-admin check, each change waits (briefly) for the other to have checked too, so
without serialization both see the other still admin and both commit.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from piazza.accounts import people
from piazza.accounts.models import User
from tests.factories import make_user

# Repeated races of two admins, each round two real transactions: `make test-slow`.
pytestmark = pytest.mark.slow

ROUNDS = 6


def _active_admins(db: Any) -> int:
    with db.session(write=False) as s:
        return s.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.is_active.is_(True))
        )


def _change(kind: str, config: Any, user_id: int) -> Any:
    if kind == "demote":
        return lambda s: people.update_user(s, config, user_id, {"role": "user"})
    if kind == "deactivate":
        return lambda s: people.update_user(s, config, user_id, {"is_active": False})
    return lambda s: people.delete_user(s, user_id)


def _run(db: Any, job: Any) -> str:
    try:
        with db.session() as s:
            job(s)
    except people.LastAdmin:
        return "refused"
    return "done"


@pytest.mark.parametrize("kinds", [("demote", "demote"), ("deactivate", "delete"), ("delete", "demote")])
def test_two_admins_changing_each_other_at_once_always_leave_an_active_admin(db, config, monkeypatch, kinds):
    real_check = people._check_keeps_an_admin
    both_checked = threading.Barrier(2)

    def check_then_wait(*args: Any, **kwargs: Any) -> None:
        real_check(*args, **kwargs)
        # With the lock the other change waits for this one and never arrives here: go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=0.5)

    monkeypatch.setattr(people, "_check_keeps_an_admin", check_then_wait)

    for round_number in range(ROUNDS):
        both_checked.reset()
        first = make_user(db, f"first-{round_number}@example.org", role="admin")
        second = make_user(db, f"second-{round_number}@example.org", role="admin")
        # Each admin changes the other one.
        jobs = [_change(kinds[0], config, second.id), _change(kinds[1], config, first.id)]
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda job: _run(db, job), jobs))
        assert _active_admins(db) >= 1, f"round {round_number}: no active admin left ({outcomes})"
        assert sorted(outcomes) == ["done", "refused"]
        # The next round starts from two fresh admins only.
        with db.session() as s:
            for user in s.scalars(select(User)):
                s.delete(user)
