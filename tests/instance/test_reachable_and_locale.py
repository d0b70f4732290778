"""`GET /api/reachable` and `GET /api/locale/:locale` (gancio-api.md §2.1, §2.13)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from piazza.app import create_app
from tests.conftest import empty_database, free_port


def test_reachable_is_200_when_the_base_url_points_at_this_server(live_server):
    response = httpx.get(f"{live_server.url}/api/reachable", timeout=30)
    assert (response.status_code, response.text) == (200, "OK")


def test_reachable_is_400_when_nothing_answers_at_the_base_url(make_config):
    nowhere = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    application = create_app(make_config(base_url=nowhere))
    try:
        with TestClient(application) as client:
            response = client.get("/api/reachable")
        assert (response.status_code, response.text) == (400, "Bad Request")
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()


def test_every_locale_is_unknown_404(client):
    for locale in ("en", "it", "xx", "..%2F..%2Fetc"):
        response = client.get(f"/api/locale/{locale}")
        assert (response.status_code, response.text) == (404, "Not Found")
