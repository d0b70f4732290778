"""Gancio's SPAM limiter (gancio-api.md §0.7): 6 requests per 5 minutes per client, every request counted."""

import dataclasses

import pytest
from fastapi.testclient import TestClient

from piazza.limits.rules import RULES
from tests.limits.conftest import GOOD_TOKEN, limited_app, peer

SPAM_ROUTES = [
    "/api/client",
    "/api/user/register",
    "/api/user/recover",
    "/api/user/recover_password",
    "/api/event/messages/42",
]


@pytest.mark.parametrize("path", SPAM_ROUTES)
def test_seventh_request_in_the_window_is_refused(limited_client, path):
    for _ in range(6):
        assert limited_client.post(path).status_code == 200
    response = limited_client.post(path)
    assert response.status_code == 429
    assert response.text == "Too many requests, please try again later."
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_refusal_carries_retry_after_and_gancios_draft6_headers(limited_client):
    for _ in range(6):
        limited_client.post("/api/user/register")
    response = limited_client.post("/api/user/register")
    assert response.status_code == 429
    assert response.headers["RateLimit-Policy"] == "6;w=300"
    assert response.headers["RateLimit-Limit"] == "6"
    assert response.headers["RateLimit-Remaining"] == "0"
    reset = int(response.headers["RateLimit-Reset"])
    # Sliding windows (issue 15): the previous window's count still weighs on the current one, so when
    # the seven requests straddle a window's edge the next allowed moment is up to two windows away.
    assert 1 <= reset <= 2 * 300
    assert int(response.headers["Retry-After"]) == reset
    assert "X-RateLimit-Limit" not in response.headers  # Gancio has the legacy headers off


def test_allowed_requests_count_down_the_remaining_ones(limited_client):
    remaining = [limited_client.post("/api/client").headers["RateLimit-Remaining"] for _ in range(6)]
    assert remaining == ["5", "4", "3", "2", "1", "0"]


def test_each_route_has_its_own_count(limited_client):
    for _ in range(6):
        limited_client.post("/api/client")
    assert limited_client.post("/api/client").status_code == 429
    assert limited_client.post("/api/user/register").status_code == 200


def test_other_methods_on_a_limited_path_are_not_counted(limited_client):
    for _ in range(10):
        response = limited_client.get("/api/client")
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers


def test_each_client_address_has_its_own_count(limited_client):
    for _ in range(6):
        limited_client.post("/api/user/recover", headers=peer("198.51.100.1"))
    assert limited_client.post("/api/user/recover", headers=peer("198.51.100.1")).status_code == 429
    assert limited_client.post("/api/user/recover", headers=peer("198.51.100.2")).status_code == 200


def test_addresses_in_one_ipv6_slash_64_share_a_count(limited_client):
    for host in range(1, 7):
        limited_client.post("/api/client", headers=peer(f"2001:db8:1:2::{host}"))
    assert limited_client.post("/api/client", headers=peer("2001:db8:1:2:ffff::9")).status_code == 429
    assert limited_client.post("/api/client", headers=peer("2001:db8:1:3::1")).status_code == 200


def test_anonymous_events_keep_gancios_limit(limited_client):
    for _ in range(6):
        assert limited_client.post("/api/event").status_code == 200
    assert limited_client.post("/api/event").status_code == 429


def test_an_app_with_a_token_can_add_many_more_events_than_anonymous_posters(limited_client):
    for _ in range(6):
        limited_client.post("/api/event")
    assert limited_client.post("/api/event").status_code == 429
    for _ in range(20):
        response = limited_client.post("/api/event", headers={"Authorization": GOOD_TOKEN})
        assert response.status_code == 200
    assert response.headers["RateLimit-Policy"] == "300;w=300"
    assert response.headers["RateLimit-Remaining"] == "280"


def test_a_token_that_spent_its_event_limit_is_refused(storage):
    token_rule = next(rule for rule in RULES if rule.name == "token-event")
    rules = [dataclasses.replace(token_rule, limit=3) if rule is token_rule else rule for rule in RULES]
    with TestClient(limited_app(storage, rules=rules)) as client:
        for _ in range(3):
            assert client.post("/api/event", headers={"Authorization": GOOD_TOKEN}).status_code == 200
        assert client.post("/api/event", headers={"Authorization": GOOD_TOKEN}).status_code == 429
        # Another token, from the same address, has its own count.
        assert client.post("/api/event", headers={"Authorization": "Bearer other"}).status_code == 401


def test_refused_tokens_count_against_the_address_so_made_up_tokens_do_not_pay(limited_client):
    for attempt in range(6):
        response = limited_client.post("/api/event", headers={"Authorization": f"Bearer made-up-{attempt}"})
        assert response.status_code == 401
    response = limited_client.post("/api/event", headers={"Authorization": "Bearer made-up-7"})
    assert response.status_code == 429


def test_valid_tokens_do_not_spend_the_refused_token_count(limited_client):
    for _ in range(10):
        assert limited_client.post("/api/event", headers={"Authorization": GOOD_TOKEN}).status_code == 200
    assert limited_client.post("/api/event", headers={"Authorization": "Bearer made-up"}).status_code == 401
