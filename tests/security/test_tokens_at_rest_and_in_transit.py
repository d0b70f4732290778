"""Secrets at rest and in transit: digests, no tokens in URLs, cookies, caches, Referer or logs
(RFC 6819 §4.1.1-4.1.3, §4.3.1-4.3.4, §4.4.1.2, §4.5.2, §4.6.6-4.6.7; RFC 9700 §4.2, §4.3)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from piazza.db.base import Base
from tests.factories import DEFAULT_PASSWORD, make_client, make_user
from tests.oauth.flow import REDIRECT, authorize_params, csrf_of, get_code, hidden_fields
from tests.security.flows import exchange, refresh

LOGIN = {"grant_type": "password", "client_id": "self"}


def login_form(email: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    return {**LOGIN, "username": email, "password": password}


def every_stored_value(db) -> str:
    with db.session() as s:
        return repr([list(s.execute(select(table))) for table in Base.metadata.sorted_tables])


def test_no_secret_code_or_token_is_stored_in_clear_anywhere(client, db, person):
    registered = client.post("/api/client", data={"client_name": "App", "redirect_uris": REDIRECT}).json()
    client_id, secret = registered["client_id"], registered["client_secret"]
    code = get_code(client, authorize_params(client_id))
    tokens = exchange(client, code, client_id, secret).json()
    rotated = refresh(client, client_id, secret, tokens["refresh_token"]).json()
    login = client.post("/oauth/login", data=login_form(person.email))
    stored = every_stored_value(db)
    for value in (
        secret,
        code,
        tokens["access_token"],
        tokens["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        login.json()["access_token"],
        login.json()["refresh_token"],
        DEFAULT_PASSWORD,
    ):
        assert value not in stored


def test_a_token_in_the_query_string_body_or_gancio_cookie_is_not_accepted(client, db):
    user = make_user(db)
    token = client.post(
        "/oauth/login", data={**LOGIN, "username": user.email, "password": DEFAULT_PASSWORD}
    ).json()["access_token"]
    assert client.get("/api/user", params={"access_token": token}).status_code == 403
    assert client.request("GET", "/api/user", data={"access_token": token}).status_code == 403
    client.cookies.set("auth._token.local", f"Bearer%20{token}")
    assert client.get("/api/user").status_code == 403  # gancio-api.md §3.8 W12: no ambient credential
    assert client.get("/api/user", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_client_secret_in_the_query_string_is_ignored(client, db, person):
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    response = client.post(
        f"/oauth/token?client_secret={secret}&client_id={app_client.id}",
        data={"grant_type": "authorization_code", "code": code},
    )
    assert response.status_code in (400, 401)
    # The query parameters were never read, so the code is still good for a proper request.
    assert exchange(client, code, app_client.id, secret).status_code == 200


def test_every_answer_carrying_a_secret_is_not_cacheable(client, db, person):
    registered = client.post("/api/client", data={"client_name": "App", "redirect_uris": REDIRECT})
    app_client, secret = make_client(db)
    code = get_code(client, authorize_params(app_client.id))
    exchanged = exchange(client, code, app_client.id, secret)
    refreshed = refresh(client, app_client.id, secret, exchanged.json()["refresh_token"])
    login = client.post("/oauth/login", data=login_form(person.email))
    for response in (registered, exchanged, refreshed, login):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/login", "/oauth/authorize"])
def test_pages_send_no_referer_and_are_not_cached(client, db, person, path):
    app_client, _ = make_client(db)
    page = client.get(path, params=authorize_params(app_client.id) if "authorize" in path else None)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_the_redirect_carrying_the_code_sends_no_referer(client, db, person):
    # RFC 9700 §4.2.2: the page the browser lands on must not learn the authorization page's URL.
    app_client, _ = make_client(db)
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    decision = client.post(
        "/oauth/authorize", data={**hidden_fields(page.text), "decision": "approve"}, follow_redirects=False
    )
    assert "code=" in decision.headers["location"]
    assert decision.headers["referrer-policy"] == "no-referrer"
    assert decision.headers["cache-control"] == "no-store"


def test_no_secret_reaches_a_log_line_during_whole_flows(client, db, caplog):
    caplog.set_level(logging.DEBUG)
    user = make_user(db, "logged@example.org")
    login_page = client.get("/login")
    client.post(
        "/login",
        data={"email": user.email, "password": "wrong password 1", "csrf_token": csrf_of(login_page.text)},
    )
    client.post(
        "/login",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf_of(login_page.text)},
    )
    registered = client.post("/api/client", data={"client_name": "App", "redirect_uris": REDIRECT}).json()
    client_id, secret = registered["client_id"], registered["client_secret"]
    code = get_code(client, authorize_params(client_id))
    tokens = exchange(client, code, client_id, secret).json()
    rotated = refresh(client, client_id, secret, tokens["refresh_token"]).json()
    refresh(client, client_id, secret, tokens["refresh_token"])
    auth = {"client_id": client_id, "client_secret": secret}
    client.post("/oauth/introspect", data={"token": rotated["access_token"], **auth})
    client.post("/oauth/revoke", data={"token": rotated["refresh_token"], **auth})
    exchange(client, code, client_id, secret)  # a replayed code, which is logged about if anything is
    failed = client.post("/oauth/login", data=login_form(user.email, "wrong password 2"))
    ok = client.post("/oauth/login", data=login_form(user.email))
    client.get("/api/user", headers={"Authorization": f"Bearer {ok.json()['access_token']}"})
    client.get("/api/user", headers={"Authorization": "Bearer " + "e" * 40})
    client.get("/recover/" + "c" * 40)  # a code in a path
    assert failed.status_code == 403
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for value in (
        secret,
        code,
        tokens["access_token"],
        tokens["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        ok.json()["access_token"],
        ok.json()["refresh_token"],
        DEFAULT_PASSWORD,
        "wrong password 1",
        "wrong password 2",
        "e" * 40,
    ):
        assert value not in logged
    # The test's own HTTP client logs the URLs it requests; Piazza's lines must not hold the path's code.
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert "c" * 40 not in "\n".join(f"{r.getMessage()} {r.args!r}" for r in served)
    # The access log was on, and is part of what was checked: one line per request.
    access = [r.getMessage() for r in caplog.records if r.name == "piazza.access"]
    for request_line in (
        '"GET /oauth/authorize" 200',
        '"POST /oauth/token" 200',
        '"POST /oauth/login" 403',
        '"GET /api/user" 401',
        '"GET /recover/{code}" 400',
    ):
        assert any(request_line in line for line in access), (request_line, access)


def test_answers_to_requests_with_credentials_are_not_stored_by_caches(client, db):
    from tests.factories import bearer, make_event, make_token, web_session

    moderator = make_user(db, "editor@example.org", role="editor")
    hidden = make_event(db, None, title="Hidden", visible=False)
    token = bearer(make_token(db, moderator))
    anonymous = client.get("/api/events")
    assert anonymous.status_code == 200 and "cache-control" not in anonymous.headers  # public, cacheable
    assert "no-store" not in client.get("/feed/rss").headers.get("cache-control", "")
    for path in ("/api/user", f"/api/event/detail/{hidden['id']}", "/api/events", "/api/events/mine"):
        answer = client.get(path, headers=token)
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "no-store", path
    # A refused token is not stored either (nor its WWW-Authenticate challenge).
    assert client.get("/api/user", headers=bearer("0" * 40)).headers["cache-control"] == "no-store"
    # The login session cookie counts as credentials, on API routes too.
    web_session(client, moderator)
    assert client.get("/api/events").headers["cache-control"] == "no-store"
    assert client.get("/feed/rss").headers["cache-control"] == "no-store"
    # What a route caches on purpose (the same bytes for everyone) keeps its own policy.
    assert client.get("/static/piazza.css").headers["cache-control"] == "public, max-age=3600"
