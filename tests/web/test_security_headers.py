"""Every HTML page sends the Content-Security-Policy and the other protective headers."""

from __future__ import annotations

import pytest

from tests.factories import make_event

PUBLIC_PAGES = [
    "/",
    "/?tag=music",
    "/calendar",
    "/calendar?month=2030-02",
    "/event/a-concert",
    "/event/no-such-event",
    "/p/no-such-page",
    "/login",
    "/register",
    "/recover",
    "/recover/not-a-code",
    "/user_confirm/not-a-code",
    "/add",
]


def _assert_protected(response) -> None:
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy and "script-src" not in policy  # no script runs at all
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_every_public_page_sends_the_security_headers(client, db, member, path):
    make_event(db, member, title="A concert")
    response = client.get(path, follow_redirects=False)
    assert response.headers["content-type"].startswith("text/html")
    _assert_protected(response)


@pytest.mark.parametrize("path", ["/", "/event/a-concert", "/event/a-concert/edit", "/add", "/settings/apps"])
def test_every_personal_page_sends_the_security_headers(client, db, logged_in, path):
    make_event(db, logged_in, title="A concert")
    response = client.get(path)
    assert response.status_code == 200
    _assert_protected(response)


def test_redirects_after_a_form_carry_the_headers_too(client, db):
    response = client.get("/settings/apps", follow_redirects=False)
    assert response.status_code == 303
    _assert_protected(response)


def test_the_api_keeps_its_own_headers(client, db):
    response = client.get("/api/events")
    assert "content-security-policy" not in response.headers
