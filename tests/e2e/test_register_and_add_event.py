"""A person registers (the first one becomes the admin), logs in, adds an event through the form,
and sees it on the home page and on its own page."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.e2e.helpers import log_in


def test_a_new_person_registers_logs_in_adds_an_event_and_sees_it(page, server):
    page.goto(server.url + "/register")
    page.get_by_label("Email").fill("first@example.org")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Register").click()
    assert page.get_by_text("you are this instance's admin").is_visible()

    log_in(page, server.url, "first@example.org", "a long enough password")
    page.get_by_role("link", name="Add event").click()
    page.wait_for_url("**/add")
    # datetime-local is read in the instance time zone (the default, Europe/Rome).
    start = (datetime.now(ZoneInfo("Europe/Rome")) + timedelta(days=3)).replace(
        hour=20, minute=30, second=0, microsecond=0
    )
    page.get_by_label("Title").fill("Neighbourhood dinner")
    page.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Place").fill("Community Hall")
    page.get_by_label("Address").fill("5 Church Road")
    page.get_by_label("Tags").fill("food, neighbours")
    page.get_by_label("Description").fill("Bring something to share.")
    page.get_by_role("button", name="Add the event").click()

    page.wait_for_url("**/event/neighbourhood-dinner")
    assert page.get_by_role("heading", level=1).inner_text() == "Neighbourhood dinner"
    assert page.get_by_text(start.strftime("%A %d %B %Y, 20:30")).is_visible()
    assert page.get_by_text("Community Hall").is_visible()

    page.get_by_role("link", name="Home").click()
    day = page.get_by_role("region", name=start.strftime("%A %d %B %Y"))
    assert day.get_by_role("link", name="Neighbourhood dinner").is_visible()
    assert day.get_by_role("link", name="#food").is_visible()
