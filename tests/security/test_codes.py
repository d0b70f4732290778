"""Authorization codes: leakage, guessing, replay, substitution (RFC 6819 §4.4.1; RFC 9700 §4.5)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from piazza.oauth.models import AuthorizationCode
from tests.factories import make_client, make_user, web_session
from tests.oauth.flow import REDIRECT, authorize_params, get_code
from tests.security.flows import exchange, user_status


def test_a_code_lives_at_most_sixty_seconds(client, db, person):
    app_client, _ = make_client(db)
    get_code(client, authorize_params(app_client.id))
    with db.session() as s:
        row = s.scalar(select(AuthorizationCode))
        assert row.expires_at - row.created_at <= timedelta(seconds=60)


def test_a_code_is_bound_to_the_client_it_was_issued_to(client, db, person):
    victim_app, _ = make_client(db, name="Victim App")
    code = get_code(client, authorize_params(victim_app.id))
    thief, thief_secret = make_client(db, name="Thief", redirect_uris=[REDIRECT])
    response = exchange(client, code, thief.id, thief_secret, redirect_uri=REDIRECT)
    assert response.json()["error"] == "invalid_grant"


def test_a_stolen_code_is_useless_without_the_client_secret(client, db, person):
    app_client, _ = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    assert exchange(client, code, app_client.id).status_code in (400, 401)
    assert exchange(client, code, app_client.id, "f" * 40).json()["error"] == "invalid_client"


def test_a_code_used_by_an_attacker_first_burns_the_tokens_issued_from_it(client, db, person):
    # RFC 6819 §4.4.1.1 / RFC 6749 §4.1.2: the second redemption fails and revokes the first one's tokens.
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    first = exchange(client, code, app_client.id, secret).json()
    assert exchange(client, code, app_client.id, secret).json()["error"] == "invalid_grant"
    assert user_status(client, first["access_token"]) == 401


def test_a_guessed_code_is_invalid_grant_and_leaves_real_codes_working(client, db, person):
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    for guess in ("0" * 40, code[:-1] + ("0" if code[-1] != "0" else "1"), code.upper(), code + "0"):
        assert exchange(client, guess, app_client.id, secret).json()["error"] == "invalid_grant"
    assert exchange(client, code, app_client.id, secret).status_code == 200


def test_codes_are_stored_only_as_digests(client, db, person):
    app_client, _ = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    with db.session() as s:
        stored = [tuple(row) for row in s.execute(select(AuthorizationCode.__table__))]
    assert code not in repr(stored)


def test_a_code_of_a_person_deactivated_since_is_refused(client, db):
    from piazza.accounts.models import User

    user = make_user(db)
    web_session(client, user)
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    with db.session() as s:
        s.get(User, user.id).is_active = False
    assert exchange(client, code, app_client.id, secret).status_code == 400
