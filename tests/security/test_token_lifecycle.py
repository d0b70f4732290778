"""The token lifecycle as a state machine: issue, refresh, rotate, replay, revoke, expire, driven through
the real endpoints in random orders (RFC 6749 §6, RFC 7009, RFC 9700 §4.14).

The model keeps, for every token pair the server handed out, whether its row is live and whether its
access or refresh token has expired. The `check` and `introspect` rules, and a sweep over every token
at the end of each run, assert that an access token authenticates exactly when the model says it is
live: a rotated, revoked or replayed family never authenticates again, and a live token always does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

import hypothesis.strategies as st
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import update

from piazza.db.base import utcnow
from piazza.oauth.models import Token
from piazza.oauth.tokens import digest
from tests.conftest import empty_database
from tests.factories import DEFAULT_PASSWORD, make_client, make_user, web_session
from tests.oauth.flow import authorize_params, hidden_fields, query_of

SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    database=None,  # no example files in the worktree; failures print their steps anyway
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass
class App:
    client_id: str
    secret: str | None  # None: the first-party client `self` (public)

    @property
    def auth(self) -> dict[str, str]:
        return {"client_id": self.client_id, **({"client_secret": self.secret} if self.secret else {})}


@dataclass
class Pair:
    access: str
    refresh: str
    family: int
    app: App
    revoked: bool = False  # the row: rotated, revoked, or killed with its family
    access_expired: bool = False
    refresh_expired: bool = False

    @property
    def authenticates(self) -> bool:
        return not self.revoked and not self.access_expired


@dataclass
class Family:
    pairs: list[Pair] = field(default_factory=list)
    code: str | None = None  # the authorization code it was issued from, if any

    def revoke(self) -> None:
        for pair in self.pairs:
            pair.revoked = True


def lifecycle_machine(http: TestClient, db) -> type[RuleBasedStateMachine]:
    class TokenLifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.user = make_user(db)
            web_session(http, self.user)
            third_party, secret = make_client(db)
            self.third_party = App(third_party.id, secret)
            self.first_party = App("self", None)
            self.families: dict[int, Family] = {}
            self.ids = count()
            self.logins = 0

        def teardown(self) -> None:
            try:
                for pair in self._pairs():  # every token ever issued, in its final state
                    self._check(pair)
            finally:
                http.cookies.clear()
                empty_database(db)

        # --- issue -------------------------------------------------------------------------------

        def _add(self, body: dict, app: App, family_id: int) -> None:
            pair = Pair(body["access_token"], body["refresh_token"], family_id, app)
            self.families[family_id].pairs.append(pair)

        @rule()
        def issue_with_the_code_flow(self) -> None:
            params = authorize_params(self.third_party.client_id)
            page = http.get("/oauth/authorize", params=params, follow_redirects=False)
            if page.status_code == 200:  # first time: the consent page; later: approved silently
                fields = {**hidden_fields(page.text), "decision": "approve"}
                page = http.post("/oauth/authorize", data=fields, follow_redirects=False)
            assert page.status_code == 302, page.text
            code = query_of(page.headers["location"])["code"]
            response = http.post(
                "/oauth/token",
                data={"grant_type": "authorization_code", "code": code, **self.third_party.auth},
            )
            assert response.status_code == 200, response.text
            family_id = next(self.ids)
            self.families[family_id] = Family(code=code)
            self._add(response.json(), self.third_party, family_id)

        # A password check costs argon2's deliberate time: one login per run is enough to mix families.
        @precondition(lambda self: self.logins < 1)
        @rule()
        def issue_with_the_password_login(self) -> None:
            self.logins += 1
            response = http.post(
                "/oauth/login",
                data={
                    "grant_type": "password",
                    "client_id": "self",
                    "username": self.user.email,
                    "password": DEFAULT_PASSWORD,
                },
            )
            assert response.status_code == 200, response.text
            family_id = next(self.ids)
            self.families[family_id] = Family()
            self._add(response.json(), self.first_party, family_id)

        # --- use ---------------------------------------------------------------------------------

        def _pairs(self) -> list[Pair]:
            return [pair for family in self.families.values() for pair in family.pairs]

        @precondition(lambda self: self._pairs())
        @rule(data=st.data())
        def refresh(self, data: st.DataObject) -> None:
            """Valid, rotated (a replay), revoked or expired: the model says which answer is right."""
            pair = data.draw(st.sampled_from(self._pairs()), label="pair")
            response = http.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": pair.refresh, **pair.app.auth},
            )
            if pair.revoked:
                # RFC 9700 §4.14.2: a used or revoked refresh token is refused and takes its family down.
                assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
                self.families[pair.family].revoke()
            elif pair.refresh_expired:
                assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
            else:
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["refresh_token"] != pair.refresh and body["access_token"] != pair.access
                pair.revoked = True  # rotated: the old row is spent
                self._add(body, pair.app, pair.family)

        @precondition(lambda self: self._pairs())
        @rule(data=st.data(), which=st.sampled_from(["access_token", "refresh_token"]))
        def revoke(self, data: st.DataObject, which: str) -> None:
            pair = data.draw(st.sampled_from(self._pairs()), label="pair")
            token = pair.access if which == "access_token" else pair.refresh
            response = http.post(
                "/oauth/revoke", data={"token": token, "token_type_hint": which, **pair.app.auth}
            )
            assert response.status_code == 200, response.text
            if which == "refresh_token":
                self.families[pair.family].revoke()  # RFC 7009 §2.1: the whole grant ends
            else:
                pair.revoked = True

        @precondition(lambda self: any(family.code for family in self.families.values()))
        @rule(data=st.data())
        def replay_the_code(self, data: st.DataObject) -> None:
            family = data.draw(st.sampled_from([f for f in self.families.values() if f.code]), label="family")
            response = http.post(
                "/oauth/token",
                data={"grant_type": "authorization_code", "code": family.code, **self.third_party.auth},
            )
            assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
            family.revoke()  # RFC 6749 §4.1.2: every token issued from the code

        @precondition(lambda self: self._pairs())
        @rule(data=st.data(), which=st.sampled_from(["access", "refresh"]))
        def expire(self, data: st.DataObject, which: str) -> None:
            """Time passes for one token: its expiry moves into the past."""
            pair = data.draw(st.sampled_from(self._pairs()), label="pair")
            past = utcnow() - timedelta(seconds=1)
            column = Token.access_digest if which == "access" else Token.refresh_digest
            values = {"access_expires_at": past} if which == "access" else {"refresh_expires_at": past}
            with db.session() as s:
                s.execute(update(Token).where(column == digest(getattr(pair, which))).values(**values))
            setattr(pair, f"{which}_expired", True)

        # --- check -------------------------------------------------------------------------------

        def _check(self, pair: Pair) -> None:
            status = http.get("/api/user", headers={"Authorization": f"Bearer {pair.access}"}).status_code
            if not pair.authenticates:
                assert status == 401, (pair, status)
            elif pair.app.secret is None:
                assert status == 200, (pair, status)  # `self` acts as the person
            else:
                assert status == 403, (pair, status)  # live, but event:write is not the account

        @precondition(lambda self: self._pairs())
        @rule(data=st.data())
        def check(self, data: st.DataObject) -> None:
            self._check(data.draw(st.sampled_from(self._pairs()), label="pair"))

        @precondition(lambda self: self._pairs())
        @rule(data=st.data())
        def introspect(self, data: st.DataObject) -> None:
            pair = data.draw(st.sampled_from(self._pairs()), label="pair")
            body = http.post("/oauth/introspect", data={"token": pair.access, **pair.app.auth}).json()
            assert body["active"] is pair.authenticates

    return TokenLifecycle


def test_the_token_lifecycle_holds_in_any_order(app_with):
    app = app_with(access_token_ttl=3600, refresh_token_ttl=86400)
    with TestClient(app) as http:
        run_state_machine_as_test(lifecycle_machine(http, app.state.db), settings=SETTINGS)
