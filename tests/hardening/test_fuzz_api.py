"""Schemathesis against `/openapi.json`: no 5xx, and every answer has a documented status and shape.

Two profiles: anonymous, and an admin's `self` token (which reaches every route). The fast runs are
part of `make test`; `make test-slow` runs many more cases per operation.
"""

from __future__ import annotations

import pytest
from schemathesis.generation import GenerationMode

from piazza.accounts.models import Role
from tests.factories import bearer, make_token, make_user
from tests.hardening.fuzzing import fuzz_app

# Anonymous callers mostly meet the auth checks; the admin's cases reach every rule.
FAST_ANONYMOUS_EXAMPLES = 5
FAST_ADMIN_EXAMPLES = 10
SLOW_ANONYMOUS_EXAMPLES = 15
SLOW_ADMIN_EXAMPLES = 25
# The slow runs add invalid data (wrong types, missing fields): still never a 5xx.
BOTH_MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def admin_headers(db):
    """An admin's token, made again whenever fuzzing deleted, demoted or disabled the admin before."""
    state: dict[str, object] = {}

    def headers() -> dict[str, str]:
        user = state.get("user")
        if user is None or not _still_admin(db, user.id):
            user = make_user(db, role=Role.ADMIN)
            state["user"], state["headers"] = user, bearer(make_token(db, user))
        return dict(state["headers"])

    return headers


def _still_admin(db, user_id: int) -> bool:
    from piazza.accounts.models import User
    from piazza.oauth.models import Token

    with db.session() as s:
        user = s.get(User, user_id)
        live = s.query(Token).filter(Token.user_id == user_id, Token.revoked_at.is_(None)).count()
        return user is not None and user.is_active and user.role == Role.ADMIN and live > 0


def _fuzz(app, db, examples: int, *, authenticated: bool, modes=(GenerationMode.POSITIVE,)) -> None:
    headers = admin_headers(db) if authenticated else dict
    report = fuzz_app(app, max_examples=examples, headers=headers, modes=modes)
    print(report.summary().splitlines()[0])  # noqa: T201  (the counts, for the record)
    assert report.operations >= 70
    assert not report.failures, report.summary()


def test_anonymous_callers_get_no_server_error_and_documented_answers(app, db):
    _fuzz(app, db, FAST_ANONYMOUS_EXAMPLES, authenticated=False)


def test_an_admin_token_gets_no_server_error_and_documented_answers(app, db):
    _fuzz(app, db, FAST_ADMIN_EXAMPLES, authenticated=True)


@pytest.mark.slow
def test_many_anonymous_cases_get_no_server_error(app, db):
    _fuzz(app, db, SLOW_ANONYMOUS_EXAMPLES, authenticated=False, modes=BOTH_MODES)


@pytest.mark.slow
def test_many_admin_cases_get_no_server_error(app, db):
    _fuzz(app, db, SLOW_ADMIN_EXAMPLES, authenticated=True, modes=BOTH_MODES)
