"""Small steps the browser tests share: seeding rows the server then shows, logging in, OAuth apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from piazza.db import Database
from tests.factories import DEFAULT_PASSWORD

# The app's redirect target: never a real server; the tests intercept it with page.route.
APP_REDIRECT = "https://app.example/callback"


@contextmanager
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        db.dispose()


def log_in(page, base_url: str, email: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def register_app(base_url: str, scopes: str = "event:write") -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/client",
        json={
            "client_name": "Event Bot",
            "redirect_uris": APP_REDIRECT,
            "scopes": scopes,
            "website": "https://bot.example",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def intercept_app_redirect(page) -> list[str]:
    """Answer requests to the app's redirect URI in the browser itself; returns the URLs it saw."""
    seen: list[str] = []

    def answer(route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Back in the app</h1>")

    page.route(f"{APP_REDIRECT}**", answer)
    return seen
