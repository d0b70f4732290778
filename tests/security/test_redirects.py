"""Redirect manipulation and open redirectors (RFC 6819 §4.2.4, §4.4.1.7; RFC 9700 §4.1, §4.11, §4.12)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.factories import DEFAULT_PASSWORD, make_client, make_user
from tests.oauth.flow import REDIRECT, authorize_params, csrf_of, hidden_fields, query_of

PHISHING = "https://phish.example/login"


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"scope": "admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_an_error_for_an_untrusted_client_is_never_an_automatic_redirect(client, db, override, error):
    # RFC 9700 §4.11.2: anyone may register a client whose redirect URI is a phishing page, then send
    # people to a broken authorization request; an automatic error redirect would make Piazza an open
    # redirector. The person gets a page and decides whether to follow the link.
    attacker, _ = make_client(db, name="Innocent", redirect_uris=[PHISHING])
    params = authorize_params(attacker.id, redirect_uri=PHISHING, **override)
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "phish.example" in response.text  # the page names where the link would go
    link = next(href for href in _links(response.text) if href.startswith(PHISHING))
    assert query_of(link)["error"] == error and query_of(link)["state"] == "xyz"


def test_an_error_page_link_carries_the_issuer(client, db, config):
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id, scope="admin")
    page = client.get("/oauth/authorize", params=params, follow_redirects=False)
    link = next(href for href in _links(page.text) if href.startswith(REDIRECT))
    assert query_of(link)["iss"] == config.base_url


def test_an_unregistered_redirect_uri_is_never_followed_even_by_a_link(client, db, person):
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id, redirect_uri=PHISHING)
    page = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 400 and "location" not in page.headers
    assert "phish.example" not in " ".join(_links(page.text))


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)//",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc",
    ],
)
def test_script_and_local_redirect_uris_cannot_be_registered(client, uri):
    response = client.post("/api/client", data={"client_name": "App", "redirect_uris": uri})
    assert response.status_code == 422


def test_an_overlong_redirect_uri_is_refused_at_registration(client):
    # The code row keeps the redirect URI in 2048 characters; a longer one registered would make the
    # decision fail (a 500 on PostgreSQL) instead of being refused up front.
    uri = "https://app.example/" + "a" * 2100
    response = client.post("/api/client", data={"client_name": "App", "redirect_uris": uri})
    assert response.status_code == 422


def test_no_redirect_after_a_post_is_a_307(client, db):
    # RFC 9700 §4.12: a 307 would make the browser re-post the login form (the password) to the target.
    user = make_user(db)
    app_client, _ = make_client(db)
    back = "/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in authorize_params(app_client.id).items())
    login = client.post(
        "/login",
        data={
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_of(client.get("/login").text),
            "next": back,
        },
        follow_redirects=False,
    )
    assert login.status_code == 303
    page = client.get(back)
    fields = {**hidden_fields(page.text), "decision": "approve"}
    decision = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert decision.status_code in (302, 303)
    logout = client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert logout.status_code == 303


def test_a_forged_host_header_changes_neither_the_issuer_nor_any_redirect(client, db, person, config):
    app_client, _ = make_client(db)
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    metadata = client.get("/.well-known/oauth-authorization-server", headers=evil).json()
    assert metadata["issuer"] == config.base_url
    assert all("evil.example" not in str(value) for value in metadata.values())
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id), headers=evil)
    fields = {**hidden_fields(page.text), "decision": "approve"}
    decision = client.post("/oauth/authorize", data=fields, headers=evil, follow_redirects=False)
    location = decision.headers["location"]
    assert urlsplit(location).netloc == "app.example"
    assert query_of(location)["iss"] == config.base_url


def test_login_redirect_for_the_authorization_request_stays_local(client, db):
    app_client, _ = make_client(db)
    response = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).netloc == ""


def _links(html: str) -> list[str]:
    import html as html_lib
    import re

    return [html_lib.unescape(href) for href in re.findall(r'href="([^"]*)"', html)]


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/callback",
        "http://blog.example/wp-admin/options-general.php?page=wpgancio",
        "http://10.0.0.5/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://localhost.evil.example/cb",
        "HTTP://APP.EXAMPLE/cb",
    ],
)
def test_a_plain_http_redirect_uri_off_the_loopback_is_refused_at_registration(client, uri):
    # A code sent there crosses the network in clear (RFC 9700 §2.6): only https, or loopback.
    response = client.post("/api/client", data={"client_name": "App", "redirect_uris": uri})
    assert response.status_code == 422
    assert "https" in response.json()["error"]


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]:51234/cb",
        "http://localhost:3000/callback",
        "org.example.app:/oauth2redirect",  # RFC 8252 §7.1, a native app's private-use scheme
        "com.example.app://callback",
    ],
)
def test_https_loopback_and_private_use_redirect_uris_can_be_registered(client, uri):
    response = client.post("/api/client", data={"client_name": "App", "redirect_uris": uri})
    assert response.status_code == 200, response.text
