from __future__ import annotations

import pytest

from tests.factories import bearer, make_token, make_user
from tests.smtp_server import smtp_server, smtp_server_with_auth

__all__ = ["smtp_server", "smtp_server_with_auth"]


@pytest.fixture
def admin(db):
    return make_user(db, "admin@example.org", role="admin")


@pytest.fixture
def admin_headers(db, admin):
    return bearer(make_token(db, admin))


@pytest.fixture
def editor_headers(db):
    return bearer(make_token(db, make_user(db, "editor@example.org", role="editor")))


@pytest.fixture
def user_headers(db):
    return bearer(make_token(db, make_user(db, "user@example.org")))


@pytest.fixture
def admin_app_headers(db, admin):
    """A third-party app's `event:write` token of an admin: no admin routes (design.md)."""
    from tests.factories import make_client

    client, _ = make_client(db)
    return bearer(make_token(db, admin, client_id=client.id, scope="event:write"))
