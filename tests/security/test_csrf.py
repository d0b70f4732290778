"""CSRF on every form: consent, login, logout
(RFC 6749 §10.12; RFC 6819 §4.4.1.8, §4.4.1.10; RFC 9700 §4.7)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.factories import DEFAULT_PASSWORD, make_client, make_user, web_session
from tests.oauth.flow import authorize_params, csrf_of, hidden_fields, query_of


def test_every_form_of_every_page_carries_a_csrf_token(client, db, person):
    app_client, _ = make_client(db)
    for html in (
        client.get("/login").text,
        client.get("/oauth/authorize", params=authorize_params(app_client.id)).text,
        client.get("/oauth/authorize", params=authorize_params("0" * 40)).text,
    ):
        forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
        assert forms
        for form in forms:
            assert 'method="post"' in form
            assert re.search(r'name="csrf_token" value="[0-9a-f]{40}"', form)


def test_a_consent_decision_with_another_sessions_csrf_token_is_refused(client, db, person, app):
    app_client, _ = make_client(db)
    params = authorize_params(app_client.id)
    with TestClient(app) as attacker:
        web_session(attacker, make_user(db, "attacker@example.org"))
        attacker_page = attacker.get("/oauth/authorize", params=params)
        forged = {**hidden_fields(attacker_page.text), "decision": "approve"}
    response = client.post("/oauth/authorize", data=forged, follow_redirects=False)
    assert response.status_code == 403 and "location" not in response.headers


def test_a_cross_site_decision_without_the_session_cookie_issues_no_code(app, db):
    # SameSite=Lax keeps the cookie off a cross-site POST: the decision arrives with no session.
    app_client, _ = make_client(db)
    with TestClient(app) as browser:
        fields = {**authorize_params(app_client.id), "decision": "approve", "csrf_token": "0" * 40}
        response = browser.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")


def test_a_get_with_a_decision_never_approves(client, db, person):
    # RFC 6819 §4.4.1.10: a link (or an <img>) cannot approve on the person's behalf.
    app_client, _ = make_client(db)
    params = {**authorize_params(app_client.id), "decision": "approve", "csrf_token": "x"}
    response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 200 and "location" not in response.headers


def test_the_state_is_echoed_unchanged_on_approval_and_denial(client, db, person):
    # RFC 6749 §10.12 / RFC 9700 §4.7: the client's CSRF defence needs its state back, byte for byte.
    app_client, _ = make_client(db)
    state = "a state with spaces & symbols ?=/é"
    for decision in ("deny", "approve"):
        page = client.get("/oauth/authorize", params=authorize_params(app_client.id, state=state))
        response = client.post(
            "/oauth/authorize",
            data={**hidden_fields(_unescaped(page.text)), "decision": decision},
            follow_redirects=False,
        )
        assert query_of(response.headers["location"])["state"] == state


def test_a_login_post_without_a_session_is_refused(app, db):
    user = make_user(db)
    with TestClient(app) as browser:
        response = browser.post(
            "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": "0" * 40}
        )
    assert response.status_code == 403
    assert "user_id" not in browser.cookies.get("piazza_session", "")  # only a new CSRF token


def test_a_login_form_of_another_session_is_refused(client, db, app):
    # Login CSRF: the attacker's own form token does not work in the victim's browser.
    user = make_user(db)
    with TestClient(app) as attacker:
        token = csrf_of(attacker.get("/login").text)
    client.get("/login")
    response = client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


def test_logout_is_post_only_and_needs_the_token(client, db, person):
    app_client, _ = make_client(db)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={}).status_code == 403
    still = client.get("/oauth/authorize", params=authorize_params(app_client.id), follow_redirects=False)
    assert still.status_code == 200  # still logged in


def _unescaped(html: str) -> str:
    import html as html_lib

    return html_lib.unescape(html)
