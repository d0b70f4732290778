"""Rules apply by what a request really is (issue 15, item 6): on the API a caller is known by a Bearer
token only, so any other Authorization header is anonymous to the limits and refused with 401."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from piazza.app import create_app
from piazza.errors import PiazzaError
from piazza.limits.ratelimit import bearer_token
from piazza.oauth.bearer import UnsupportedScheme, bearer_token_from
from tests.limits.conftest import GOOD_TOKEN, limited_app, peer

EVENT = {
    "title": "Street party",
    "start_datetime": "1950000000",
    "place_name": "The square",
    "place_address": "1 Main Street",
}
OTHER_SCHEMES = ["Basic YWRhOnNlY3JldA==", "Token abc", "abc", "Digest x", "", "Bearertoken"]


@pytest.fixture
def real_client(make_config, db):
    app = create_app(make_config(rate_limits=True))
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


@pytest.mark.parametrize("header", OTHER_SCHEMES)
def test_another_scheme_on_the_api_is_401_with_a_bearer_challenge(real_client, header):
    response = real_client.post("/api/event", data=EVENT, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    detail = real_client.get("/api/event/detail/1", headers={"Authorization": header})
    assert detail.status_code == 401


def test_other_schemes_count_against_the_anonymous_limit(real_client):
    # Before: each request was filed under the per-token rule (300 per token, a fresh count per made-up
    # header) and then treated as anonymous, so anonymous events went past Gancio's 6 per 5 minutes.
    statuses = [
        real_client.post("/api/event", data=EVENT, headers={"Authorization": f"Basic x{n}"}).status_code
        for n in range(4)
    ]
    statuses += [real_client.post("/api/event", data=EVENT).status_code for _ in range(2)]
    assert statuses == [401] * 4 + [200] * 2
    assert real_client.post("/api/event", data=EVENT, headers={"Authorization": "Basic y"}).status_code == 429
    assert real_client.post("/api/event", data=EVENT).status_code == 429


def test_a_bearer_token_keeps_its_own_budget(storage):
    with TestClient(limited_app(storage)) as client:
        for _ in range(6):
            assert client.post("/api/event", headers=peer("192.0.2.5")).status_code == 200
        assert client.post("/api/event", headers=peer("192.0.2.5")).status_code == 429
        assert (
            client.post("/api/event", headers={"Authorization": GOOD_TOKEN, **peer("192.0.2.5")}).status_code
            == 200
        )
        basic = client.post("/api/event", headers={"Authorization": "Basic abc", **peer("192.0.2.5")})
        assert basic.status_code == 429


@pytest.mark.parametrize(
    "header", [*OTHER_SCHEMES, "Bearer abc", "bearer abc", "BEARER  abc ", "Bearer", "Bearer ", None]
)
def test_the_limiter_and_the_api_read_the_header_alike(header):
    headers = [] if header is None else [(b"authorization", header.encode())]
    request = Request({"type": "http", "headers": headers})
    try:
        api_token: str | None = bearer_token_from(request)
    except UnsupportedScheme:
        api_token = None  # refused: anonymous to the limits
    except PiazzaError:
        api_token = None  # "Bearer" without a token: InvalidToken, 401
    assert bearer_token(dict(headers)) == api_token


def test_event_updates_are_limited_per_token_and_per_address(real_client):
    """PUT /api/event may carry an image to decode: made-up tokens and anonymous updates (both refused
    by the route) are limited per address, and the edit page's visitors share the anonymous count."""
    for n in range(6):
        response = real_client.put(
            "/api/event", data={"id": "1"}, headers={"Authorization": f"Bearer made-up-{n}"}
        )
        assert response.status_code == 401
    assert (
        real_client.put(
            "/api/event", data={"id": "1"}, headers={"Authorization": "Bearer another"}
        ).status_code
        == 429
    )
    for _ in range(3):
        assert real_client.put("/api/event", data={"id": "1"}).status_code == 403
    for _ in range(3):
        assert real_client.post("/event/edit?event=x", data={"title": "x"}).status_code in (403, 404)
    assert real_client.put("/api/event", data={"id": "1"}).status_code == 429
    assert real_client.post("/event/edit?event=x", data={"title": "x"}).status_code == 429


def test_every_event_write_route_has_a_rule_for_every_kind_of_caller():
    from piazza.limits.rules import RULES, Callers

    def callers(method: str, path: str) -> set[Callers]:
        return {rule.callers for rule in RULES if rule.method == method and rule.pattern.fullmatch(path)}

    assert {Callers.ANONYMOUS, Callers.TOKEN} <= callers("POST", "/api/event")
    assert {Callers.ANONYMOUS, Callers.TOKEN} <= callers("PUT", "/api/event")
    assert {Callers.VISITOR, Callers.MEMBER} <= callers("POST", "/add")
    assert {Callers.VISITOR, Callers.MEMBER} <= callers("POST", "/event/edit")
