"""Revoking an app on the Authorized apps page makes its token fail at once."""

from __future__ import annotations

import httpx

from piazza.oauth.service import save_consent
from tests.e2e.helpers import database, log_in
from tests.factories import bearer, make_client, make_token, make_user


def test_revoking_an_app_makes_its_token_fail(page, server, database_url):
    with database(database_url) as db:
        person = make_user(db, "person@example.org")
        app, _secret = make_client(db, name="Event Bot")
        with db.session(write=True) as s:
            save_consent(s, person.id, app.id, "event:write")  # what approving on the consent page stores
        token = make_token(db, person, client_id=app.id, scope="event:write")
    assert httpx.get(f"{server.url}/api/events/mine", headers=bearer(token)).status_code == 200

    log_in(page, server.url, "person@example.org")
    page.get_by_role("link", name="Authorized apps").click()
    assert page.get_by_role("heading", name="Event Bot").is_visible()
    page.get_by_role("button", name="Revoke Event Bot").click()
    assert page.get_by_text("The app's access is revoked.").is_visible()
    assert page.get_by_text("You have not authorized any app.").is_visible()

    assert httpx.get(f"{server.url}/api/events/mine", headers=bearer(token)).status_code == 401
