import gc
import logging
import re

import sqlalchemy.exc
from fastapi.testclient import TestClient

from piazza.app import app_from_environment, create_app


def test_ping_answers_ok(client):
    response = client.get("/api/ping")
    assert response.status_code == 200
    assert response.text == "OK"
    assert len(response.headers["X-Request-ID"]) == 16


def test_unknown_api_route_is_404_not_found(client):
    response = client.get("/api/no/such/route")
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_unexpected_exception_is_500_without_trace_and_logged_with_request_id(config, caplog):
    app = create_app(config)

    @app.get("/api/boom")
    async def boom():
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/api/boom")
    app.state.db.dispose()
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert response.text == f"Internal Server Error (request id {request_id})"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    record = next(r for r in caplog.records if r.name == "piazza")
    assert record.request_id == request_id
    assert record.exc_info is not None


def test_openapi_document_is_served(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert "/api/ping" in response.json()["paths"]


def test_client_that_leaves_mid_body_is_not_a_server_error(config, caplog):
    from starlette.requests import ClientDisconnect

    app = create_app(config)

    @app.post("/api/leaving")
    async def leaving():
        raise ClientDisconnect()

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.post("/api/leaving", content=b"x")
    app.state.db.dispose()
    assert response.status_code == 400
    assert not [r for r in caplog.records if r.name == "piazza"]


def _leaf_routes(routes, router_index):
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _leaf_routes(included.routes, router_index)
        elif getattr(route, "path", None):
            yield router_index, route


def test_no_route_takes_another_routers_paths(config):
    """create_app orders its routers by traffic, which is safe only while no router's route matches
    another router's paths: then the order decides nothing."""
    app = create_app(config)
    app.state.db.dispose()
    routes = [leaf for index, route in enumerate(app.router.routes) for leaf in _leaf_routes([route], index)]
    known: set[tuple[str, str]] = set()  # the two stylesheets are served by one mount, /static
    overlaps = set()
    for router_a, a in routes:
        for sample in ("x1", "1"):
            path = re.sub(r"\{[^}]+\}", sample, a.path)
            for router_b, b in routes:
                methods = (getattr(a, "methods", None) or {"GET"}) & (getattr(b, "methods", None) or {"GET"})
                if router_a != router_b and methods and b.path_regex.fullmatch(path):
                    overlaps.add((a.path, b.path))
    assert overlaps == known


def test_no_free_database_connection_is_503_with_retry_after(config, caplog):
    app = create_app(config)

    @app.get("/api/busy")
    async def busy():
        raise sqlalchemy.exc.TimeoutError("QueuePool limit of size 8 overflow 0 reached")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.WARNING):
        response = client.get("/api/busy")
        assert client.get("/api/ping").status_code == 200
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "QueuePool" not in response.text
    assert "no database connection free for GET /api/busy" in caplog.text


def test_a_served_worker_freezes_what_it_loaded_for_the_collector(monkeypatch, tmp_path):
    """uvicorn's workers build the app with app_from_environment; the collector's full passes then
    skip the long-lived objects (README "Serving")."""
    for name in ("PIAZZA_CONFIG", "PIAZZA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIAZZA_DATA_DIR", str(tmp_path))
    assert gc.get_freeze_count() == 0
    app = app_from_environment()
    try:
        assert gc.get_freeze_count() > 10_000
        # the app itself is among the frozen objects, out of the collector's generations
        assert not any(tracked is app for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
        app.state.db.dispose()
