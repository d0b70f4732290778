"""Mix-up attacks: every authorization response names its issuer (RFC 9207; RFC 9700 §4.4)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from tests.factories import make_client
from tests.oauth.flow import approve, authorize_params, hidden_fields, query_of


def test_the_issuer_is_advertised_and_is_the_base_url(client, config):
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == config.base_url
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_approval_denial_and_silent_approval_all_carry_iss(client, db, person, config):
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id)
    assert approve(client, params, decision="deny")["iss"] == config.base_url
    assert approve(client, params)["iss"] == config.base_url
    silent = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert silent.status_code == 302 and query_of(silent.headers["location"])["iss"] == config.base_url


def test_an_error_link_carries_iss(client, db, config):
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id, scope="nope"))
    links = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page.text)]
    error = query_of(next(link for link in links if "error=" in link))
    assert error["iss"] == config.base_url


def test_iss_is_sent_once(client, db, person):
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    fields = {**hidden_fields(page.text), "decision": "approve"}
    location = client.post("/oauth/authorize", data=fields, follow_redirects=False).headers["location"]
    assert parse_qs(urlsplit(location).query)["iss"] == ["http://testserver"]


def test_iss_follows_the_configured_base_url_not_the_request(app_with, db):
    from fastapi.testclient import TestClient

    from tests.factories import make_user, web_session

    app = app_with(base_url="https://agenda.example.org")
    with TestClient(app, base_url="http://10.0.0.5") as client:
        web_session(client, make_user(app.state.db))
        app_client, _ = make_client(app.state.db)
        assert approve(client, authorize_params(app_client.id))["iss"] == "https://agenda.example.org"
