"""Page forms keep the limits of the API routes that do the same thing (issue 15, item 7), and share
their counters, so the two together cannot double a budget.

The first test reads the routes from the app: a new POST page route fails it until it has a rule in
limits/rules.py or an entry, with its reason, in the list below.
"""

from __future__ import annotations

import base64
import json
import re
import secrets

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from piazza.app import create_app
from piazza.events.models import Event
from piazza.limits.rules import RULES, Callers, Counts
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_user, web_session

# POST page routes without a rate limit, and why none is needed.
PAGE_ROUTES_WITHOUT_LIMITS = {
    # Ends the caller's own session: nothing to spend, nothing to guess.
    "/logout",
    # A logged-in person's consent decision, bound to their session by its CSRF token; the code it
    # issues is redeemed at /oauth/token, which is limited.
    "/oauth/authorize",
    # A logged-in person deleting their own event or revoking their own app: the API twins
    # (DELETE /api/event/{id}, DELETE /api/clients/{id}) have no limit either.
    "/event/{event_id}/delete",
    "/settings/apps/{client_id}/revoke",
    # Admin pages: only admins reach them, like their API twins (/api/user, /api/settings...), which
    # have no limit.
    "/admin/moderation/{event_id}/confirm",
    "/admin/moderation/{event_id}/reject",
    "/admin/users",
    "/admin/users/{user_id}",
    "/admin/users/{user_id}/delete",
    "/admin/settings",
    "/admin/settings/smtp",
    "/admin/settings/image/{field}",
}


def _leaf_routes(routes):
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _leaf_routes(included.routes)
        elif getattr(route, "path", None):
            yield route


def _page_post_routes(app) -> list[str]:
    return [
        route.path
        for route in _leaf_routes(app.router.routes)
        if "POST" in (getattr(route, "methods", None) or ())
        and getattr(route, "endpoint", None) is not None
        and route.endpoint.__module__.startswith("piazza.web.")
    ]


def _sample(path: str) -> str:
    return re.sub(r"\{\w+\}", "x1", path)


def _rules_for(method: str, path: str):
    return [rule for rule in RULES if rule.method == method and rule.pattern.fullmatch(_sample(path))]


def test_every_post_page_route_has_a_limit_or_a_reason_not_to(config):
    app = create_app(config)
    app.state.db.dispose()
    paths = _page_post_routes(app)
    assert "/register" in paths and "/add" in paths  # the listing found the pages
    unlimited = {path for path in paths if not _rules_for("POST", path)}
    assert unlimited == PAGE_ROUTES_WITHOUT_LIMITS, (
        "a POST page route needs a rule in limits/rules.py (sharing its API twin's counter) or an entry "
        "with its reason in PAGE_ROUTES_WITHOUT_LIMITS"
    )


# Each page form and the API route it shares a counter with.
TWINS = [
    ("/register", "/api/user/register"),
    ("/recover", "/api/user/recover"),
    ("/recover/{code}", "/api/user/recover_password"),
    ("/user_confirm/{code}", "/api/user/recover_password"),
    ("/login", "/oauth/login"),
]


@pytest.mark.parametrize(("page", "api"), TWINS)
def test_a_page_form_shares_the_counters_of_its_api_twin(page, api):
    page_rules, api_rules = _rules_for("POST", page), _rules_for("POST", api)
    assert page_rules
    for rule in page_rules:
        twins = [other for other in api_rules if other.counter == rule.counter]
        assert twins, f"{rule.name} shares no counter with {api}"
        assert all(
            (twin.limit, twin.window, twin.key_by) == (rule.limit, rule.window, rule.key_by) for twin in twins
        )


def test_the_anonymous_event_form_shares_the_anonymous_api_counter():
    (page,) = [rule for rule in _rules_for("POST", "/add") if rule.callers is Callers.VISITOR]
    (api,) = [rule for rule in _rules_for("POST", "/api/event") if rule.callers is Callers.ANONYMOUS]
    assert page.counter == api.counter and page.limit == api.limit and page.counts is Counts.EVERY


def test_rules_that_share_a_counter_agree_on_its_limit_and_window():
    by_counter: dict[str, set[tuple[int, int]]] = {}
    for rule in RULES:
        by_counter.setdefault(rule.counter, set()).add((rule.limit, rule.window))
    assert {counter: sizes for counter, sizes in by_counter.items() if len(sizes) > 1} == {}


# --- on the real app -----------------------------------------------------------------------------------


@pytest.fixture
def limited_client(make_config, db):
    app = create_app(make_config(rate_limits=True))
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


def _csrf(client: TestClient) -> str:
    """A session with a known CSRF token (the cookie SessionMiddleware signs), without a login."""
    token = secrets.token_hex(20)
    data = base64.b64encode(json.dumps({"csrf": token}).encode())
    client.cookies.set("piazza_session", TimestampSigner(TEST_SECRET_KEY).sign(data).decode())
    return token


@pytest.mark.parametrize(
    ("page", "api", "form"),
    [
        ("/register", "/api/user/register", {"email": "x", "password": "short"}),
        ("/recover", "/api/user/recover", {"email": "someone@example.org"}),
        ("/recover/00000000", "/api/user/recover_password", {"password": "a", "password_again": "a"}),
        ("/user_confirm/00000000", "/api/user/recover_password", {"password": "a", "password_again": "a"}),
    ],
)
def test_pages_and_their_api_twins_spend_one_budget(limited_client, page, api, form):
    # Before: 25 recovery mails to one person, 15 accounts from one address through the pages.
    csrf = _csrf(limited_client)
    statuses = [limited_client.post(page, data={**form, "csrf_token": csrf}).status_code for _ in range(3)]
    statuses += [limited_client.post(api, json={}).status_code for _ in range(3)]
    assert 429 not in statuses
    assert limited_client.post(page, data={**form, "csrf_token": csrf}).status_code == 429
    assert limited_client.post(api, json={}).status_code == 429


FIELDS = {
    "title": "Street party",
    "start_datetime": "2031-03-04T20:30",
    "place_name": "The square",
    "place_address": "1 Main Street",
}


def test_anonymous_events_from_the_page_and_the_api_share_gancios_limit(limited_client, db):
    csrf = _csrf(limited_client)
    for _ in range(3):
        assert limited_client.post("/add", data={**FIELDS, "csrf_token": csrf}).status_code == 200
    api_event = {
        "title": "Street party",
        "start_datetime": "1950000000",
        **{k: FIELDS[k] for k in ("place_name", "place_address")},
    }
    for _ in range(3):
        assert limited_client.post("/api/event", data=api_event).status_code == 200
    assert limited_client.post("/add", data={**FIELDS, "csrf_token": csrf}).status_code == 429
    assert limited_client.post("/api/event", data=api_event).status_code == 429
    with db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 6


def test_a_logged_in_person_has_a_budget_of_their_own(limited_client, db):
    user = make_user(db, "writer@example.org")
    web_session(limited_client, user)
    statuses = [limited_client.post("/add", data=FIELDS).status_code for _ in range(8)]
    assert 429 not in statuses  # refused for the CSRF token, but not limited like a visitor


def test_a_session_whose_login_ended_does_not_post_anonymously(limited_client, db):
    """The limits count a session's requests as its user's; the page must then not treat them as a
    visitor's (which would post under a visitor's rules, on the user's budget)."""
    user = make_user(db, "gone@example.org")
    token = secrets.token_hex(20)
    session = {"user_id": user.id, "login": "a fingerprint of an old password", "csrf": token}
    data = base64.b64encode(json.dumps(session).encode())
    limited_client.cookies.set("piazza_session", TimestampSigner(TEST_SECRET_KEY).sign(data).decode())
    response = limited_client.post("/add", data={**FIELDS, "csrf_token": token})
    assert response.status_code == 403
    assert "Log in" in response.text
    with db.session(write=False) as session_:
        assert session_.execute(select(func.count()).select_from(Event)).scalar_one() == 0
