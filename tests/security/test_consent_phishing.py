"""Consent phishing and look-alike apps (RFC 6819 §4.2.2, §4.2.3, §4.4.1.4, §5.2.4.5; RFC 9700 §4.15)."""

from __future__ import annotations

import re

import pytest

from piazza.instance.settings import set_setting
from tests.factories import make_client
from tests.oauth.flow import approve, authorize_params

REDIRECT = "https://app.example/cb"


def register(client, name: str, **extra: str):
    return client.post("/api/client", data={"client_name": name, "redirect_uris": REDIRECT, **extra})


@pytest.mark.parametrize(
    "name",
    [
        "self",
        "SELF",
        "Piazza",
        "P I A Z Z A",
        "Ρiazza",  # Greek capital rho
        "pіazza",  # Cyrillic і
        "P1azza",
        "Gancio",
        "Admin",
        "testserver",  # the instance's host name
    ],
)
def test_names_that_read_like_the_instance_or_self_are_refused(client, name):
    response = register(client, name)
    assert response.status_code == 422
    assert "name" in response.json()["error"]


def test_the_instance_title_is_reserved_too(client, db):
    with db.session() as s:
        set_setting(s, "title", "Agenda di Bologna")
    assert register(client, "Agenda di Bologna").status_code == 422
    assert register(client, "agenda  DI bologna!").status_code == 422
    # Containing the title is reading like the instance too (issue 15).
    assert register(client, "Agenda di Bologna importer").status_code == 422
    assert register(client, "Agenda di Bologna").status_code == 422
    assert register(client, "Bologna events importer").status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "Piazza Official Login",
        "Login to P I A Z Z A",
        "PiazzaSync",
        "The Ρiazza app",  # Greek capital rho
        "testserver app",  # the instance's host name
        "Sign in with testserver.",
        "Agenda di Bologna app",
        "Official AGENDA-DI-BOLOGNA login",
    ],
)
def test_names_that_contain_the_instance_name_are_refused(client, db, name):
    with db.session() as s:
        set_setting(s, "title", "Agenda di Bologna")
    response = register(client, name)
    assert response.status_code == 422
    assert "name" in response.json()["error"]


def test_a_short_instance_title_is_matched_as_whole_words_only(client, db):
    with db.session() as s:
        set_setting(s, "title", "Art")
    assert register(client, "Art").status_code == 422
    assert register(client, "A.R.T.").status_code == 422
    assert register(client, "Art app").status_code == 422
    assert register(client, "Smart calendar").status_code == 200
    assert register(client, "Party planner").status_code == 200


@pytest.mark.parametrize(
    "name", ["WPGancio", "Wordpress Event Manager", "Gancio importer", "Selfie", "Badminton"]
)
def test_clients_in_the_wild_keep_registering(client, name):
    # The WordPress plugin registers as "WPGancio": only the exact "Gancio" is reserved.
    assert register(client, name).status_code == 200


@pytest.mark.parametrize(
    "name", ["Evil\u202emoc.elgoog", "Good\u200bApp", "App\x00", "Line\u2028break", "\u200b"]
)
def test_names_with_invisible_or_direction_changing_characters_are_refused(client, name):
    assert register(client, name).status_code == 422


@pytest.mark.parametrize("name", ["WordPress plugin", "Città di Torino", "イベント", "Events (beta) 2.0"])
def test_ordinary_names_in_any_script_are_accepted(client, name):
    assert register(client, name).status_code == 200


def test_consent_shows_the_exact_redirect_host_and_marks_the_app_unverified(client, db, person):
    app_client, _ = make_client(
        db,
        name="Official Calendar",
        website="https://calendar.example",
        redirect_uris=["https://collector.evil.example/cb"],
    )
    page = client.get(
        "/oauth/authorize",
        params=authorize_params(app_client.id, redirect_uri="https://collector.evil.example/cb"),
    )
    host = re.search(r'<strong class="redirect-host">([^<]*)</strong>', page.text)
    assert host and host.group(1) == "collector.evil.example"
    assert "has not checked" in page.text
    # The website claims one site, the code goes to another: the page says so.
    assert "are different sites" in page.text


def test_no_warning_when_website_and_redirect_are_the_same_site(client, db, person):
    app_client, _ = make_client(db, website="https://app.example", redirect_uris=["https://app.example/cb"])
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id, redirect_uri=REDIRECT))
    assert "are different sites" not in page.text


def test_an_approval_is_not_reused_by_a_look_alike_app(client, db, person):
    # RFC 6819 §4.2.3: only the very client that was approved skips the page.
    real, _ = make_client(db, name="Event App", redirect_uris=[REDIRECT])
    fake, _ = make_client(db, name="Event App", redirect_uris=[REDIRECT])
    approve(client, authorize_params(real.id, redirect_uri=REDIRECT))
    again = client.get(
        "/oauth/authorize", params=authorize_params(fake.id, redirect_uri=REDIRECT), follow_redirects=False
    )
    assert again.status_code == 200 and "Approve" in again.text


def test_registration_cannot_choose_the_client_id(client):
    # RFC 9700 §4.15: a client that picks its id could pick one that means something else.
    response = client.post(
        "/api/client",
        data={"client_name": "App", "redirect_uris": REDIRECT, "client_id": "self", "id": "self"},
    )
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{40}", response.json()["client_id"])


def test_self_cannot_be_used_in_the_code_flow(client, db, person):
    page = client.get(
        "/oauth/authorize",
        params=authorize_params("self", redirect_uri="https://evil.example/"),
        follow_redirects=False,
    )
    assert page.status_code == 400 and "location" not in page.headers
