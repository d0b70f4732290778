"""The home page, the calendar, an event page and the static pages, as a visitor sees them."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from piazza.instance.announcements_service import create_announcement
from piazza.instance.pages_service import create_page
from tests.factories import make_collection, make_event, make_user, set_setting

ROME = ZoneInfo("Europe/Rome")


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ROME).timestamp())


def test_home_groups_upcoming_events_by_day_in_the_instance_time_zone(client, db, member):
    # 23:30 in Rome is already the next day in UTC: the grouping follows the instance zone.
    make_event(db, member, title="Late show", start=_at("2031-03-04 23:30"))
    make_event(db, member, title="Breakfast", start=_at("2031-03-05 08:00"))
    page = client.get("/").text
    first_day, second_day = page.index("Tuesday 04 March 2031"), page.index("Wednesday 05 March 2031")
    assert first_day < page.index("Late show") < second_day < page.index("Breakfast")
    assert ">23:30<" in page


def test_home_filters_by_tag_and_by_place(client, db, member):
    make_event(db, member, title="Concert", tags=["music"], place_name="Park", place_address="Park Road")
    make_event(db, member, title="Swap", tags=["books"], place_name="Library", place_address="1 Book St")
    by_tag = client.get("/", params={"tag": "music"}).text
    assert "Concert" in by_tag and "Swap" not in by_tag
    park = client.get("/").text.split('<option value="')[1:]
    park_id = next(option.split('"')[0] for option in park if ">Park<" in option)
    by_place = client.get("/", params={"place": park_id}).text
    assert "Concert" in by_place and "Swap" not in by_place


def test_home_filters_offer_the_places_and_tags_of_the_events_listed(client, db, member):
    now = int(time.time())
    make_event(db, member, title="Concert", tags=["music"], place_name="Park", place_address="Park Road")
    make_event(db, member, title="Gig", tags=["music", "rock"], place_name="Park", place_address="Park Road")
    make_event(db, member, title="Swap", tags=["books"], place_name="Library", place_address="1 Book St")
    make_event(
        db,
        member,
        title="Old fair",
        tags=["fair"],
        place_name="Barn",
        place_address="Farm",
        start=now - 86400 * 30,
    )
    page = client.get("/").text
    datalist = page.split('<datalist id="known-tags">')[1].split("</datalist>")[0]
    assert datalist == '<option value="music"><option value="rock"><option value="books">'  # most used first
    places = page.split('<select name="place">')[1].split("</select>")[0]
    assert ">Park<" in places and ">Library<" in places and ">Barn<" not in places
    assert places.index(">Park<") < places.index(">Library<")
    # With a filter on, the suggestions narrow to what the filtered events offer.
    filtered = client.get("/", params={"tag": "rock"}).text
    assert ">Library<" not in filtered.split('<select name="place">')[1].split("</select>")[0]


def test_home_shows_announcements_and_links_to_the_feeds(client, db):
    with db.session(write=True) as s:
        create_announcement(
            s, {"title": "Welcome!", "announcement": "<p>Open to all</p><script>x()</script>"}
        )
    page = client.get("/").text
    assert "Welcome!" in page and "<p>Open to all</p>" in page and "<script>" not in page
    assert 'href="/feed/rss"' in page and 'href="/feed/ics"' in page


def test_home_shows_the_collection_named_in_collection_in_home(client, db, member):
    make_event(db, member, title="Concert", tags=["music"])
    make_event(db, member, title="Swap", tags=["books"])
    make_collection(db, "Music", {"tags": ["music"]})
    set_setting(db, "collection_in_home", "Music")
    page = client.get("/").text
    assert "Concert" in page and "Swap" not in page


def test_hidden_events_are_not_on_the_home_page(client, db):
    make_event(db, None, title="Waiting for moderation", start=int(time.time()) + 86400)
    assert "Waiting for moderation" not in client.get("/").text


def test_the_calendar_shows_the_month_asked_for(client, db, member):
    make_event(db, member, title="Spring fair", start=_at("2031-03-20 10:00"))
    page = client.get("/calendar", params={"month": "2031-03"})
    assert page.status_code == 200
    assert "March 2031" in page.text and "Spring fair" in page.text
    assert 'href="/calendar?month=2031-02"' in page.text and 'href="/calendar?month=2031-04"' in page.text
    assert "Spring fair" not in client.get("/calendar", params={"month": "2031-04"}).text


def test_a_malformed_month_shows_the_current_one(client, db):
    assert client.get("/calendar", params={"month": "not-a-month"}).status_code == 200


def test_the_event_page_shows_the_event_in_the_instance_time_zone_with_sharing_tags(client, db, member):
    event = make_event(
        db,
        member,
        title="Concert <b>live</b>",
        start=_at("2031-03-04 21:00"),
        tags=["music"],
        description="<p>Great <em>music</em></p><img src=x onerror=alert(1)>",
    )
    page = client.get(f"/event/{event['slug']}").text
    assert "Tuesday 04 March 2031, 21:00" in page
    assert "Concert &lt;b&gt;live&lt;/b&gt;" in page  # the title is escaped
    assert "<em>music</em>" in page and "onerror" not in page  # the description is sanitized HTML
    assert 'href="/?tag=music"' in page
    assert f'href="/api/event/detail/{event["slug"]}.ics"' in page
    assert '<meta property="og:type" content="event">' in page
    assert f'<meta property="og:url" content="http://testserver/event/{event["slug"]}">' in page
    assert '<meta property="og:image" content="http://testserver/fallbackimage.png">' in page
    assert '<meta property="og:description" content="Great music">' in page
    assert 'name="twitter:card"' in page


def test_unknown_and_hidden_events_are_404_for_visitors(client, db, member):
    hidden = make_event(db, member, title="Secret", visible=False)
    assert client.get("/event/no-such-event").status_code == 404
    response = client.get(f"/event/{hidden['slug']}")
    assert response.status_code == 404 and "Secret" not in response.text


def test_a_hidden_event_is_shown_to_its_author_and_to_moderators(client, db, logged_in):
    hidden = make_event(db, logged_in, title="Secret", visible=False)
    page = client.get(f"/event/{hidden['slug']}")
    assert page.status_code == 200 and "waiting for moderation" in page.text


def test_edit_buttons_only_for_those_allowed(client, db, member):
    event = make_event(db, member, title="Mine")
    assert "/edit" not in client.get(f"/event/{event['slug']}").text
    other = make_user(db, "other@example.org")
    from tests.factories import web_session

    web_session(client, other)
    assert "/edit" not in client.get(f"/event/{event['slug']}").text
    client.cookies.clear()
    web_session(client, member)
    assert f'href="/event/{event["slug"]}/edit"' in client.get(f"/event/{event['slug']}").text


def test_static_pages_show_visible_pages_and_404_for_others(client, db):
    with db.session(write=True) as s:
        shown = create_page(s, {"title": "About us", "content": "<p>We are <b>here</b></p>", "visible": True})
        hidden = create_page(s, {"title": "Draft", "content": "<p>no</p>", "visible": False})
    page = client.get(f"/p/{shown['slug']}")
    assert page.status_code == 200 and "<p>We are <b>here</b></p>" in page.text
    assert client.get(f"/p/{hidden['slug']}").status_code == 404
    assert client.get("/p/nothing").status_code == 404
    assert f'href="/p/{shown["slug"]}"' in client.get("/").text  # the footer links the visible pages
