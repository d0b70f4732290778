"""Open client registration, abused: bulk registration, oversized records, impersonation
(RFC 6819 §4.4.1.11, §5.2.3.4; RFC 9700 §4.15; gancio-api.md §3.8 W10)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from piazza.oauth.models import Client

REDIRECT = "https://spam.example/cb"


def test_bulk_registration_from_one_address_is_refused_after_six(limited):
    body = {"client_name": "Spam", "redirect_uris": REDIRECT}
    statuses = [limited.post("/api/client", data=body).status_code for _ in range(9)]
    assert statuses == [200] * 6 + [429] * 3
    with limited.app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Client).where(Client.name == "Spam")) == 6


def test_refused_registrations_count_too(limited):
    # Invalid bodies are no way around the limit: every request counts, as in Gancio.
    for _ in range(6):
        assert limited.post("/api/client", data={"client_name": ""}).status_code == 422
    assert (
        limited.post("/api/client", data={"client_name": "A", "redirect_uris": REDIRECT}).status_code == 429
    )


def test_registration_answers_carry_the_rate_limit_headers(limited):
    response = limited.post("/api/client", data={"client_name": "A", "redirect_uris": REDIRECT})
    assert response.headers["ratelimit-limit"] == "6" and response.headers["ratelimit-remaining"] == "5"


@pytest.mark.parametrize(
    "fields",
    [
        {"client_name": "x" * 256, "redirect_uris": REDIRECT},
        {"client_name": "App", "redirect_uris": " ".join(f"https://a.example/{i}" for i in range(11))},
        {"client_name": "App", "redirect_uris": "https://a.example/" + "x" * 2100},
        {"client_name": "App", "redirect_uris": REDIRECT, "website": "https://a.example/" + "x" * 2100},
        {"client_name": "App", "redirect_uris": "https://user:pass@a.example/cb"},
        {"client_name": "App", "redirect_uris": "/relative/cb"},
        {"client_name": "App", "redirect_uris": "https://a.example/cb#frag"},
        {"client_name": "App", "redirect_uris": "x" * 1000},
    ],
)
def test_oversized_or_malformed_registrations_are_422_and_store_nothing(client, db, fields):
    response = client.post("/api/client", data=fields)
    assert response.status_code == 422
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Client)) == 1  # only `self`


def test_a_body_over_the_size_cap_is_refused_before_registration(client, db):
    response = client.post(
        "/api/client", data={"client_name": "App", "redirect_uris": REDIRECT, "pad": "x" * 2**21}
    )
    assert response.status_code == 413


def test_every_registration_is_confidential_with_a_fresh_secret(client):
    body = {"client_name": "App", "redirect_uris": REDIRECT, "client_secret": "chosen", "client_id": "x" * 40}
    first = client.post("/api/client", data=body).json()
    second = client.post("/api/client", data=body).json()
    assert first["client_secret"] != "chosen" and len(first["client_secret"]) == 40
    assert first["client_secret"] != second["client_secret"]
    assert first["client_id"] != second["client_id"] and "x" * 40 not in (
        first["client_id"],
        second["client_id"],
    )


def test_a_public_client_gets_no_secret_it_could_choose(client):
    """`token_endpoint_auth_method=none` (RFC 7591 §2) makes a public client: no secret at all, so PKCE is
    required at /authorize (tests/oauth/test_registration.py shows that); a chosen secret is ignored."""
    body = {"client_name": "App", "redirect_uris": REDIRECT, "client_secret": "chosen"}
    body["token_endpoint_auth_method"] = "none"
    registered = client.post("/api/client", data=body).json()
    assert registered["client_secret"] is None
    assert registered["token_endpoint_auth_method"] == "none"
