"""Fixtures of the threat suite: a logged-in person, a registered app, and apps with rate limits on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from piazza.app import create_app
from tests.conftest import empty_database
from tests.factories import make_user, web_session


@pytest.fixture
def person(client, db):
    """A person logged in to the pages through `client` (a signed session cookie)."""
    user = make_user(db, "person@example.org")
    web_session(client, user)
    return user


@pytest.fixture
def app_with(make_config) -> Iterator[Callable[..., FastAPI]]:
    """Build extra apps from config overrides (rate limits on, short lifetimes); cleaned up after."""
    built: list[FastAPI] = []

    def build(**overrides: Any) -> FastAPI:
        application = create_app(make_config(**overrides))
        built.append(application)
        return application

    yield build
    for application in built:
        empty_database(application.state.db)
        application.state.db.dispose()


@pytest.fixture
def limited(app_with) -> Iterator[TestClient]:
    """A TestClient on an app with the real rate limits on."""
    with TestClient(app_with(rate_limits=True)) as test_client:
        yield test_client
