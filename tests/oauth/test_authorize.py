"""GET /authorize, GET and POST /oauth/authorize: login, consent, decision (RFC 6749 §4.1.1-4.1.2)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import make_client, make_user, web_session
from tests.oauth.flow import REDIRECT, approve, authorize_params, hidden_fields, pkce_pair, query_of


@pytest.fixture
def logged_in(client, db):
    user = make_user(db, "person@example.org")
    web_session(client, user)
    return user


def test_anonymous_person_is_sent_to_login_and_brought_back(client, db):
    user = make_user(db)
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id, scope="event:write")
    response = client.get("/authorize", params=params, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    back = parse_qs(urlsplit(location).query)["next"][0]
    assert back.startswith("/oauth/authorize?")
    page = client.get(location)
    csrf = hidden_fields(page.text)["csrf_token"]
    login = client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery", "csrf_token": csrf, "next": back},
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"] == back
    consent = client.get(back)
    assert consent.status_code == 200 and "Test App" in consent.text


def test_consent_page_names_the_app_its_website_scopes_and_redirect(client, db, logged_in):
    app_client, _ = make_client(db, name="Event Bot", website="https://bot.example")
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id, scope="event:write"))
    assert page.status_code == 200
    assert "Event Bot" in page.text and "https://bot.example" in page.text
    assert "Add, update and delete events in your name" in page.text
    assert REDIRECT in page.text


def test_consent_page_cannot_be_framed(client, db, logged_in):
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_approve_redirects_with_code_state_and_iss(client, db, logged_in, config):
    app_client, _ = make_client(db)
    result = approve(client, authorize_params(app_client.id))
    assert len(result["code"]) == 40
    assert result["state"] == "xyz"
    assert result["iss"] == config.base_url


def test_deny_redirects_with_access_denied(client, db, logged_in):
    app_client, _ = make_client(db)
    result = approve(client, authorize_params(app_client.id), decision="deny")
    assert result["error"] == "access_denied"
    assert result["state"] == "xyz"
    assert "code" not in result


def test_person_who_approved_before_is_not_asked_again(client, db, logged_in):
    app_client, _ = make_client(db)
    approve(client, authorize_params(app_client.id, scope="event:write"))
    response = client.get(
        "/oauth/authorize",
        params=authorize_params(app_client.id, scope="event:write"),
        follow_redirects=False,
    )
    assert response.status_code == 302
    assert "code" in query_of(response.headers["location"])


def test_consent_without_csrf_token_is_refused(client, db, logged_in):
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    fields = hidden_fields(page.text)
    fields["csrf_token"] = "0" * 40
    fields["decision"] = "approve"
    response = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert response.status_code == 403
    assert "location" not in response.headers


def test_decision_without_login_goes_to_login(client, db):
    app_client, _ = make_client(db)
    fields = {**authorize_params(app_client.id), "decision": "approve", "csrf_token": "0" * 40}
    response = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_unknown_client_gets_an_error_page_not_a_redirect(client, db, logged_in):
    response = client.get("/oauth/authorize", params=authorize_params("0" * 40), follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.evil.com/callback",
        "https://app.example/callback.evil.com",
        "https://evil@app.example/callback",
        "https://app.example/callback#fragment",
        "https://app.example:8443/callback",
        "https://app.example/callback/more",
        "https://app.example/callback?x=1",
        "http://app.example/callback",
        "https://evil.example/callback",
    ],
)
def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(client, db, logged_in, redirect_uri):
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id, redirect_uri=redirect_uri)
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_loopback_redirect_uri_may_use_any_port(client, db, logged_in):
    app_client, _ = make_client(db, redirect_uris=["http://127.0.0.1/cb"])
    result = approve(client, authorize_params(app_client.id, redirect_uri="http://127.0.0.1:51234/cb"))
    assert "code" in result
    bad = client.get(
        "/oauth/authorize",
        params=authorize_params(app_client.id, redirect_uri="http://127.0.0.1:51234/other"),
        follow_redirects=False,
    )
    assert bad.status_code == 400


def error_link(response) -> dict[str, str]:
    """The error redirect an error page offers as a link (never an automatic redirect, RFC 9700 §4.11.2)."""
    assert response.status_code == 400 and "location" not in response.headers
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', response.text)]
    return query_of(next(h for h in hrefs if h.startswith(REDIRECT)))


def test_unknown_scope_offers_an_invalid_scope_link(client, db, logged_in):
    app_client, _ = make_client(db)
    response = client.get(
        "/oauth/authorize", params=authorize_params(app_client.id, scope="admin"), follow_redirects=False
    )
    result = error_link(response)
    assert result["error"] == "invalid_scope" and result["state"] == "xyz" and "iss" in result


def test_unsupported_response_type_offers_its_error_link(client, db, logged_in):
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id, response_type="token")
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert error_link(response)["error"] == "unsupported_response_type"


def test_public_client_without_pkce_is_refused(client, db, logged_in):
    app_client, _ = make_client(db, public=True)
    response = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
    assert error_link(response)["error"] == "invalid_request"


def test_plain_pkce_method_is_refused(client, db, logged_in):
    app_client, _ = make_client(db, public=True)
    _, challenge = pkce_pair()
    params = authorize_params(app_client.id, code_challenge=challenge, code_challenge_method="plain")
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert error_link(response)["error"] == "invalid_request"


def test_first_party_client_cannot_use_the_code_flow(client, db, logged_in):
    params = authorize_params("self", redirect_uri="https://attacker.example/")
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_tampered_decision_is_validated_again(client, db, logged_in):
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    fields = hidden_fields(page.text)
    fields["redirect_uri"] = "https://evil.example/callback"
    fields["decision"] = "approve"
    response = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_app_name_is_escaped_on_the_consent_page(client, db, logged_in):
    app_client, _ = make_client(db, name="<script>alert(1)</script>")
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


@pytest.mark.parametrize(
    "override",
    [
        {"redirect_uri": 'https://app.example/"callback\\'},
        {"response_type": 'co"de\\'},
        {"client_id": 'x"\\'},
    ],
)
def test_hostile_characters_get_an_error_page_not_a_500(client, db, logged_in, override):
    app_client, _ = make_client(db)
    params = {**authorize_params(app_client.id), **override}
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_repeated_parameters_get_an_error_page(client, db, logged_in):
    app_client, _ = make_client(db)
    query = f"response_type=code&client_id={app_client.id}&client_id={app_client.id}"
    response = client.get(f"/oauth/authorize?{query}", follow_redirects=False)
    assert response.status_code == 400
