"""Admins in a real browser: an anonymous event confirmed from the moderation queue, and a new title.

The event is posted through the API without a token (allow_anon_event is on by default), so it waits
hidden; the admin logs in through /login, confirms it, and the public API then lists it.
"""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from piazza.db import Database
from tests.factories import DEFAULT_PASSWORD, make_user


def log_in_as_admin(page, server, database_url: str, next_path: str) -> None:
    database = Database(database_url)
    try:
        make_user(database, "admin@example.org", role="admin")
    finally:
        database.dispose()
    page.goto(f"{server.url}{next_path}")
    expect(page).to_have_url(f"{server.url}/login?next={next_path.replace('/', '%2F')}")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.url}{next_path}")


def test_an_admin_confirms_an_anonymous_event(server, page, database_url):
    start = int(time.time()) + 2 * 86400
    posted = httpx.post(
        f"{server.url}/api/event",
        data={
            "title": "Anonymous street party",
            "start_datetime": str(start),
            "place_name": "The Square",
            "place_address": "1 Main Street",
        },
    )
    assert posted.status_code == 200, posted.text
    titles = [event["title"] for event in httpx.get(f"{server.url}/api/events").json()]
    assert "Anonymous street party" not in titles  # hidden until a moderator confirms it

    log_in_as_admin(page, server, database_url, "/admin/moderation")
    item = page.locator(".admin-item", has_text="Anonymous street party")
    expect(item).to_contain_text("anonymous")
    expect(item).to_contain_text("The Square")
    item.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("status")).to_contain_text("The event is confirmed")
    expect(page.locator(".admin-item", has_text="Anonymous street party")).to_have_count(0)
    titles = [event["title"] for event in httpx.get(f"{server.url}/api/events").json()]
    assert "Anonymous street party" in titles


def test_an_admin_renames_the_instance_and_sees_it_in_the_header(server, page, database_url):
    log_in_as_admin(page, server, database_url, "/admin/settings")
    page.get_by_label("Title").fill("Piazza di Prova")
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_role("status")).to_contain_text("The settings are saved")
    expect(page.get_by_role("banner")).to_contain_text("Piazza di Prova")
    expect(page.get_by_label("Title")).to_have_value("Piazza di Prova")
