"""The geocoding proxy `GET /api/placeOSM/{Nominatim,Photon}/{query}` (gancio-api.md §2.11), against a
stand-in provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from piazza.app import create_app
from piazza.events.geocoding import (
    MAX_ANSWER_BYTES,
    Geocoder,
    GeocodingRequest,
    ProviderBusy,
    ProviderTimedOut,
)
from piazza.limits.rules import GEOCODING_LIMIT
from tests.conftest import empty_database, wait_for_a_fresh_window
from tests.factories import set_setting

NOMINATIM_ANSWER = [{"place_id": 1, "lat": "45.07", "lon": "7.68", "display_name": "Piazza Castello, Torino"}]
PHOTON_ANSWER = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "X"}}]}


class Provider:
    """A stand-in for Nominatim and Photon; it records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.release = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                parts = urlsplit(self.path)
                provider.requests.append((parts.path, parse_qs(parts.query), dict(self.headers)))
                if parts.path == "/hang":
                    provider.release.wait(30)
                    body = b"[]"
                elif parts.path == "/big":
                    body = b"[" + b'"x",' * (MAX_ANSWER_BYTES // 4) + b'"x"]'
                elif parts.path == "/photon":
                    body = json.dumps(PHOTON_ANSWER).encode()
                else:
                    body = json.dumps(NOMINATIM_ANSWER).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the proxy gave up on us

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    yield server
    server.close()


def _app(make_config, **overrides):
    application = create_app(make_config(**overrides))
    # Short timeout and no spacing, so the tests do not wait (the defaults are tested as constants).
    application.state.geocoder = Geocoder(
        allow_private=application.state.config.allow_private_fetch, timeout=2, interval=0
    )
    return application


@pytest.fixture
def geo(make_config) -> Iterator[tuple[TestClient, object]]:
    """An app that may fetch from 127.0.0.1 (PIAZZA_ALLOW_PRIVATE_FETCH), with geolocation on."""
    application = _app(make_config, allow_private_fetch=True)
    with TestClient(application) as test_client:
        set_setting(application.state.db, "allow_geolocation", True)
        yield test_client, application
    empty_database(application.state.db)
    application.state.db.dispose()


def test_nominatim_lookup_sends_gancio_parameters_and_a_user_agent_naming_the_instance(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/search")
    set_setting(app.state.db, "geocoding_countrycodes", ["it", "fr"])
    set_setting(app.state.db, "title", "Torino Eventi")
    response = client.get("/api/placeOSM/Nominatim/piazza castello")
    assert (response.status_code, response.json()) == (200, NOMINATIM_ANSWER)
    ((path, params, headers),) = provider.requests
    assert path == "/search"
    assert params == {
        "countrycodes": ["it,fr"],
        "q": ["piazza castello"],
        "limit": ["3"],
        "format": ["json"],
        "addressdetails": ["1"],
        "namedetails": ["1"],
    }
    assert "Torino Eventi" in headers["User-Agent"] and "http://testserver" in headers["User-Agent"]
    assert headers["User-Agent"].startswith("Piazza/")


def test_a_title_beyond_ascii_or_with_control_characters_still_makes_a_user_agent(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/search")
    set_setting(app.state.db, "title", "Città\r\nX-Evil: 1 😀 (eventi)")
    response = client.get("/api/placeOSM/Nominatim/torino")
    assert response.status_code == 200
    ((_, _, headers),) = provider.requests
    assert (
        headers["User-Agent"].startswith("Piazza/")
        and "(Citta X-Evil: 1 eventi; http://testserver)" in headers["User-Agent"]
    )
    assert "X-Evil" not in headers


def test_photon_lookup_sends_q_and_limit_and_answers_the_geojson(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/photon")
    response = client.get("/api/placeOSM/Photon/torino")
    assert (response.status_code, response.json()) == (200, PHOTON_ANSWER)
    ((path, params, _),) = provider.requests
    assert (path, params) == ("/photon", {"q": ["torino"], "limit": ["3"]})


def test_a_repeated_query_is_answered_from_the_cache(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/search")
    for _ in range(3):
        assert client.get("/api/placeOSM/Nominatim/torino").json() == NOMINATIM_ANSWER
    assert len(provider.requests) == 1
    assert client.get("/api/placeOSM/Nominatim/milano").status_code == 200
    assert client.get("/api/placeOSM/Photon/torino").status_code == 200  # another kind, another key
    assert len(provider.requests) == 3


def test_the_cache_is_bounded_and_expires():
    geocoder = Geocoder(allow_private=False, ttl=60, entries=2)
    for key in ("a", "b", "c"):
        geocoder._store(key, [key])
    assert geocoder.cached("a") is None and geocoder.cached("c") == ["c"]
    geocoder._cache["b"] = (time.monotonic() - 61, ["b"])
    assert geocoder.cached("b") is None


def test_geolocation_off_is_403_and_an_unknown_provider_kind_is_404(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/search")
    assert client.get("/api/placeOSM/Google/torino").status_code == 404
    assert client.get(f"/api/placeOSM/Nominatim/{'x' * 201}").status_code == 400
    set_setting(app.state.db, "allow_geolocation", False)
    assert client.get("/api/placeOSM/Nominatim/torino").status_code == 403
    assert provider.requests == []


def test_a_provider_that_hangs_is_a_504(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/hang")
    response = client.get("/api/placeOSM/Nominatim/torino")
    assert (response.status_code, response.text) == (504, "geocoding provider timed out")


def test_lookups_queued_behind_a_hanging_provider_are_turned_away_503(provider):
    geocoder = Geocoder(allow_private=True, interval=0, timeout=4, queue_wait=0.5)
    hanging = GeocodingRequest(f"{provider.url}/hang", (("q", "a"),), "test")
    other = GeocodingRequest(f"{provider.url}/hang", (("q", "b"),), "test")

    async def both() -> list[object]:
        first = asyncio.create_task(geocoder.lookup(hanging))
        await asyncio.sleep(0.1)  # the first holds the provider
        return await asyncio.gather(first, geocoder.lookup(other), return_exceptions=True)

    first, second = asyncio.run(both())
    assert isinstance(first, ProviderTimedOut) and isinstance(second, ProviderBusy)
    assert geocoder.fetches == 1


def test_an_oversized_answer_is_a_502(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", f"{provider.url}/big")
    response = client.get("/api/placeOSM/Nominatim/torino")
    assert (response.status_code, response.text) == (502, "geocoding answer too large")


def test_a_provider_that_is_down_or_not_http_is_a_502(geo, provider):
    client, app = geo
    set_setting(app.state.db, "geocoding_provider", "http://127.0.0.1:1/search")
    assert client.get("/api/placeOSM/Nominatim/torino").status_code == 502
    set_setting(app.state.db, "geocoding_provider", "file:///etc/passwd")
    assert client.get("/api/placeOSM/Nominatim/torino").status_code == 502


def test_a_provider_on_a_private_address_is_refused_without_the_allowance(make_config, provider):
    application = _app(make_config)  # allow_private_fetch off, as in production
    try:
        with TestClient(application) as client:
            set_setting(application.state.db, "allow_geolocation", True)
            set_setting(application.state.db, "geocoding_provider", f"{provider.url}/search")
            response = client.get("/api/placeOSM/Nominatim/torino")
        assert (response.status_code, response.text) == (
            502,
            "geocoding_provider: the address is not allowed",
        )
        assert provider.requests == []
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()


@pytest.mark.slow  # a real server (or 60 lookups in a row): `make test-slow`
def test_lookups_are_rate_limited_per_client(make_config, provider):
    application = _app(make_config, allow_private_fetch=True, rate_limits=True)
    try:
        with TestClient(application) as client:
            set_setting(application.state.db, "allow_geolocation", True)
            set_setting(application.state.db, "geocoding_provider", f"{provider.url}/search")
            wait_for_a_fresh_window()
            statuses = [
                client.get("/api/placeOSM/Nominatim/torino").status_code for _ in range(GEOCODING_LIMIT)
            ]
            refused = client.get("/api/placeOSM/Nominatim/torino")
        assert set(statuses) == {200}
        assert refused.status_code == 429 and refused.headers["Retry-After"]
        assert len(provider.requests) == 1
    finally:
        empty_database(application.state.db)
        application.state.db.dispose()
