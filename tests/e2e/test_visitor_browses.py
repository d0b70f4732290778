"""A visitor browses the home page, filters by a tag, opens an event and downloads its ICS."""

from __future__ import annotations

import time

import icalendar

from tests.e2e.helpers import database
from tests.factories import make_event, make_user


def test_a_visitor_filters_by_tag_opens_an_event_and_downloads_its_ics(page, server, database_url):
    start = int(time.time()) + 2 * 86400
    with database(database_url) as db:
        author = make_user(db, "author@example.org")
        make_event(db, author, title="Open-air concert", tags=["music"], start=start, end=start + 7200)
        make_event(db, author, title="Repair café", tags=["repair"], start=start + 3600)

    page.goto(server.url + "/")
    assert page.get_by_role("link", name="Open-air concert").is_visible()
    assert page.get_by_role("link", name="Repair café").is_visible()

    page.get_by_role("link", name="#music").first.click()
    page.wait_for_url("**/?tag=music")
    assert page.get_by_role("heading", name="Events tagged #music").is_visible()
    assert page.get_by_role("link", name="Repair café").count() == 0

    page.get_by_role("link", name="Open-air concert").click()
    page.wait_for_url("**/event/open-air-concert")
    assert page.get_by_role("heading", level=1).inner_text() == "Open-air concert"
    og_title = page.locator('meta[property="og:title"]').get_attribute("content")
    assert og_title == "Open-air concert"

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Add to calendar").click()
    calendar = icalendar.Calendar.from_ical(download_info.value.path().read_bytes())
    events = calendar.walk("VEVENT")
    assert [str(event["SUMMARY"]) for event in events] == ["Open-air concert"]
    assert int(events[0].decoded("DTSTART").timestamp()) == start
