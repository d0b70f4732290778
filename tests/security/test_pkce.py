"""PKCE: code injection and downgrade (RFC 7636; RFC 9700 §4.5, §4.8; RFC 6819 §4.4.1.13)."""

from __future__ import annotations

import pytest

from tests.factories import make_client
from tests.oauth.flow import authorize_params, get_code, pkce_pair
from tests.security.flows import exchange

S256 = {"code_challenge_method": "S256"}


def test_an_injected_code_fails_with_the_victims_own_verifier(client, db, person):
    # RFC 9700 §4.5: the attacker's stolen code, pasted into the victim client's session, is redeemed
    # with the verifier of that session, which does not match the code's challenge.
    app_client, _ = make_client(db, public=True)
    _, attacker_challenge = pkce_pair()
    victim_verifier, _ = pkce_pair()
    code = get_code(client, authorize_params(app_client.id, code_challenge=attacker_challenge, **S256))
    response = exchange(client, code, app_client.id, code_verifier=victim_verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_dropping_the_verifier_does_not_downgrade_pkce(client, db, person):
    app_client, secret = make_client(db)
    _, challenge = pkce_pair()
    code = get_code(client, authorize_params(app_client.id, code_challenge=challenge, **S256))
    response = exchange(client, code, app_client.id, secret)
    assert response.status_code == 400


def test_a_verifier_for_a_code_issued_without_challenge_is_refused(client, db, person):
    # RFC 9700 §4.8.2: otherwise an attacker could start a flow without PKCE and inject its code.
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    verifier, _ = pkce_pair()
    response = exchange(client, code, app_client.id, secret, code_verifier=verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["plain", "", "s256", "S512"])
def test_only_the_s256_method_is_accepted(client, db, person, method):
    app_client, _ = make_client(db, public=True)
    verifier, _ = pkce_pair()
    params = authorize_params(app_client.id, code_challenge=verifier, code_challenge_method=method or None)
    page = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 400 and "code=" not in page.text


def test_a_public_client_cannot_skip_pkce(client, db, person):
    app_client, _ = make_client(db, public=True)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
    assert page.status_code == 400 and "location" not in page.headers


@pytest.mark.parametrize("challenge", ["short", "x" * 129, "bad chars!" * 5, "é" * 43])
def test_a_malformed_challenge_is_refused_without_a_500(client, db, person, challenge):
    app_client, _ = make_client(db, public=True)
    params = authorize_params(app_client.id, code_challenge=challenge, **S256)
    page = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 400


def test_metadata_advertises_s256_only(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["code_challenge_methods_supported"] == ["S256"]
