"""The full OAuth approval as a person does it, and the same with Deny."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.e2e.helpers import APP_REDIRECT, database, intercept_app_redirect, register_app
from tests.factories import DEFAULT_PASSWORD, make_user


def _authorize_url(base_url: str, client_id: str, state: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": APP_REDIRECT,
        "scope": "event:write",
        "state": state,
    }
    return f"{base_url}/authorize?{urlencode(params)}"


def _log_in_on_the_way(page) -> None:
    page.get_by_label("Email").fill("person@example.org")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_person_approves_an_app_which_then_adds_an_event_with_its_token(page, server, database_url):
    with database(database_url) as db:
        make_user(db, "person@example.org")
    app = register_app(server.url)
    seen = intercept_app_redirect(page)
    state = secrets.token_hex(8)

    page.goto(_authorize_url(server.url, app["client_id"], state))
    page.wait_for_url("**/login?next=*")
    _log_in_on_the_way(page)
    assert page.get_by_role("heading", name="Authorize Event Bot?").is_visible()
    assert page.get_by_text(APP_REDIRECT).is_visible()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{APP_REDIRECT}**")

    query = {key: values[0] for key, values in parse_qs(urlsplit(seen[-1]).query).items()}
    assert query["state"] == state and query["iss"] == server.url
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "authorization_code", "code": query["code"], "redirect_uri": APP_REDIRECT},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    created = httpx.post(
        f"{server.url}/api/event",
        headers={"Authorization": f"Bearer {access}"},
        json={
            "title": "Posted by the bot",
            "start_datetime": int(time.time()) + 86400,
            "place_name": "The Square",
            "place_address": "1 Main Street",
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["title"] == "Posted by the bot"


def test_a_person_denies_an_app_which_gets_access_denied(page, server, database_url):
    with database(database_url) as db:
        make_user(db, "person@example.org")
    app = register_app(server.url)
    seen = intercept_app_redirect(page)

    page.goto(_authorize_url(server.url, app["client_id"], "s1"))
    _log_in_on_the_way(page)
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{APP_REDIRECT}**")

    query = {key: values[0] for key, values in parse_qs(urlsplit(seen[-1]).query).items()}
    assert query["error"] == "access_denied" and query["state"] == "s1"
    assert "code" not in query
