"""Fixtures for the admin pages: people of each role, and a TestClient logged in as one of them."""

from __future__ import annotations

import pytest

from tests.factories import make_user, web_session
from tests.oauth.flow import csrf_of


@pytest.fixture
def admin(db):
    return make_user(db, "admin@example.org", role="admin", password=None)


@pytest.fixture
def editor(db):
    return make_user(db, "editor@example.org", role="editor", password=None)


@pytest.fixture
def someone(db):
    return make_user(db, "someone@example.org", role="user", password=None)


class Browser:
    """A TestClient logged in as a user, posting forms with the CSRF token of its session."""

    def __init__(self, client, user) -> None:
        self.client = client
        web_session(client, user)

    def get(self, path: str):
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict | None = None, *, csrf: str | None = None, files=None):
        token = csrf if csrf is not None else csrf_of(self.get("/admin/moderation").text)
        return self.client.post(
            path, data={"csrf_token": token, **(data or {})}, files=files, follow_redirects=False
        )


@pytest.fixture
def as_admin(client, admin) -> Browser:
    return Browser(client, admin)


@pytest.fixture
def as_editor(client, editor) -> Browser:
    return Browser(client, editor)
