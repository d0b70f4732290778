from __future__ import annotations

import re

import pytest

from tests.factories import make_user, web_session
from tests.smtp_server import smtp_server

__all__ = ["smtp_server"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


@pytest.fixture
def member(db):
    return make_user(db, "member@example.org")


@pytest.fixture
def logged_in(client, member):
    """The TestClient logged in as `member` (a plain user)."""
    web_session(client, member)
    return member
