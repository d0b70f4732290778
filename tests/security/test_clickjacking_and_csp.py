"""Clickjacking and content injection on the pages (RFC 6819 §4.4.1.9; RFC 9700 §4.16)."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_client
from tests.oauth.flow import authorize_params


def pages(client, db):
    app_client, _ = make_client(db)
    bad_scope = authorize_params(app_client.id, scope="x")
    return {
        "login": client.get("/login"),
        "consent": client.get("/oauth/authorize", params=authorize_params(app_client.id)),
        "error (unknown client)": client.get("/oauth/authorize", params=authorize_params("0" * 40)),
        "error (bad scope)": client.get("/oauth/authorize", params=bad_scope),
        "error (expired form)": client.post("/logout", data={"csrf_token": "0" * 40}),
    }


@pytest.mark.parametrize(
    "name", ["login", "consent", "error (unknown client)", "error (bad scope)", "error (expired form)"]
)
def test_no_page_can_be_framed_or_run_injected_script(client, db, person, name):
    response = pages(client, db)[name]
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    # No script-src anywhere, and default-src 'none': no script runs, inline or not.
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_consent_page_runs_no_script(client, db, person):
    response = pages(client, db)["consent"]
    assert "<script" not in response.text.lower()
    assert not re.search(r"\son[a-z]+\s*=", response.text, flags=re.I)  # no inline event handlers


def test_the_app_website_link_cannot_be_a_script(client):
    response = client.post(
        "/api/client",
        data={"client_name": "App", "redirect_uris": "https://a.example/cb", "website": "javascript:x"},
    )
    assert response.status_code == 422


def test_the_app_website_is_escaped_in_its_attribute(client, db, person):
    app_client, _ = make_client(db, website='https://app.example/"><b>x</b>')
    page = client.get("/oauth/authorize", params=authorize_params(app_client.id))
    assert '"><b>x</b>' not in page.text
