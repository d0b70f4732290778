"""The whole code flow over real HTTP (uvicorn on a free port), driven by independent client libraries:
Authlib's OAuth2Session and requests-oauthlib; confidential and public clients, with and without PKCE."""

from __future__ import annotations

import re

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from requests_oauthlib import OAuth2Session as OAuthlibSession

from tests.factories import DEFAULT_PASSWORD, make_client, make_user

REDIRECT = "https://app.example/callback"


def browser_logged_in(server, email: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{server.url}/login")
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    response = browser.post(
        f"{server.url}/login",
        data={"email": email, "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        allow_redirects=False,
    )
    assert response.status_code == 303
    return browser


def approve_in_browser(browser: requests.Session, authorization_url: str) -> str:
    """Open the consent page, press Approve, return where the server sends the browser."""
    page = browser.get(authorization_url, allow_redirects=False)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
    fields["decision"] = "approve"
    base = authorization_url.split("/oauth/authorize")[0]
    response = browser.post(f"{base}/oauth/authorize", data=fields, allow_redirects=False)
    assert response.status_code == 302
    return response.headers["Location"]


@pytest.mark.parametrize("use_pkce", [True, False])
def test_authlib_client_confidential(live_server, use_pkce):
    db = live_server.app.state.db
    user = make_user(db)
    app_client, secret = make_client(db, redirect_uris=[REDIRECT])
    session = AuthlibSession(
        app_client.id,
        secret,
        scope="event:write",
        redirect_uri=REDIRECT,
        code_challenge_method="S256" if use_pkce else None,
        token_endpoint_auth_method="client_secret_post",
    )
    extra = {}
    if use_pkce:
        extra["code_verifier"] = verifier = "v" * 20 + "x" * 30
    url, state = session.create_authorization_url(f"{live_server.url}/oauth/authorize", **extra)
    callback = approve_in_browser(browser_logged_in(live_server, user.email), url)
    assert f"iss={live_server.url}".replace(":", "%3A").replace("/", "%2F") in callback
    token = session.fetch_token(
        f"{live_server.url}/oauth/token",
        authorization_response=callback,
        **({"code_verifier": verifier} if use_pkce else {}),
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "event:write"
    refreshed = session.refresh_token(f"{live_server.url}/oauth/token", refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]


def test_authlib_client_public_with_pkce(live_server):
    db = live_server.app.state.db
    user = make_user(db)
    app_client, _ = make_client(db, redirect_uris=[REDIRECT], public=True)
    session = AuthlibSession(
        app_client.id,
        scope="event:write",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = "p" * 64
    url, _ = session.create_authorization_url(f"{live_server.url}/oauth/authorize", code_verifier=verifier)
    callback = approve_in_browser(browser_logged_in(live_server, user.email), url)
    token = session.fetch_token(
        f"{live_server.url}/oauth/token", authorization_response=callback, code_verifier=verifier
    )
    assert len(token["access_token"]) == 40


def test_requests_oauthlib_client_confidential_with_basic_auth(live_server, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test server speaks plain http on 127.0.0.1
    db = live_server.app.state.db
    user = make_user(db, role="admin")
    app_client, secret = make_client(db, redirect_uris=[REDIRECT])
    session = OAuthlibSession(app_client.id, redirect_uri=REDIRECT, scope=["event:write"])
    url, _ = session.authorization_url(f"{live_server.url}/oauth/authorize")
    callback = approve_in_browser(browser_logged_in(live_server, user.email), url)
    token = session.fetch_token(
        f"{live_server.url}/oauth/token", authorization_response=callback, client_secret=secret
    )
    assert token["token_type"] == "Bearer"
    # The app's token is refused on an account route: its scope is event:write only.
    response = session.get(f"{live_server.url}/api/user")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_requests_oauthlib_client_public_with_pkce(live_server, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    db = live_server.app.state.db
    user = make_user(db)
    app_client, _ = make_client(db, redirect_uris=[REDIRECT], public=True)
    session = OAuthlibSession(app_client.id, redirect_uri=REDIRECT, scope=["event:write"], pkce="S256")
    url, _ = session.authorization_url(f"{live_server.url}/oauth/authorize")
    callback = approve_in_browser(browser_logged_in(live_server, user.email), url)
    token = session.fetch_token(
        f"{live_server.url}/oauth/token", authorization_response=callback, include_client_id=True
    )
    assert len(token["refresh_token"]) == 40
