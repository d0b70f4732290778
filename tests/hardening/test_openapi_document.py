"""`/openapi.json` describes every API route, with its request body where it takes one.

The pages under `src/piazza/web/` (login, consent, static CSS) are HTML for people, not API operations,
and are left out of the document on purpose (`include_in_schema=False`), as are the docs UI itself.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

API_PREFIXES = ("/api/", "/oauth/", "/feed/", "/.well-known/", "/media/")
HTML_PAGES = {"/oauth/authorize", "/api/docs"}
# Writes that act on the path alone (Gancio's confirm, toggle and move routes) take no body.
BODYLESS_WRITES = {
    ("PUT", "/api/event/confirm/{event_id}"),
    ("PUT", "/api/event/unconfirm/{event_id}"),
    ("PUT", "/api/event/disable_author/{event_id}"),
    ("PUT", "/api/collection/toggle/{collection_id}"),
    ("PUT", "/api/collection/moveup/{sort_index}"),
}


def _routes(routes: list[BaseRoute]):
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps included routers as one route each
            yield from _routes(included.routes)
        elif hasattr(route, "methods") and hasattr(route, "path"):
            for method in route.methods - {"HEAD"}:
                yield method, route.path


def api_operations(app) -> set[tuple[str, str]]:
    return {
        (method, path)
        for method, path in _routes(app.routes)
        if path.startswith(API_PREFIXES) and path not in HTML_PAGES
    }


def test_every_api_route_is_in_the_openapi_document(app, client):
    document = client.get("/openapi.json").json()
    operations = api_operations(app)
    assert len(operations) >= 70  # the walk over included routers really found the routes
    missing = sorted(
        f"{method} {path}"
        for method, path in operations
        if method.lower() not in document["paths"].get(path, {})
    )
    assert missing == []


def test_every_route_that_takes_a_body_documents_it(app, client):
    document = client.get("/openapi.json").json()
    undocumented = sorted(
        f"{method} {path}"
        for method, path in api_operations(app)
        if method in ("POST", "PUT", "PATCH")
        and (method, path) not in BODYLESS_WRITES
        and "requestBody" not in document["paths"][path][method.lower()]
    )
    assert undocumented == []


def test_gancio_routes_document_json_forms_and_multipart(client):
    paths = client.get("/openapi.json").json()["paths"]
    event = paths["/api/event"]["post"]["requestBody"]["content"]
    assert set(event) == {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    assert event["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert event["application/json"]["schema"]["required"] == ["title", "start_datetime"]
    token = paths["/oauth/token"]["post"]["requestBody"]["content"]
    assert set(token) == {"application/x-www-form-urlencoded"}  # RFC 6749 §4.1.3: forms only


def test_errors_are_documented_as_the_plain_text_the_app_sends(client):
    operation = client.get("/openapi.json").json()["paths"]["/api/event/{event_id}"]["delete"]
    assert "422" not in operation["responses"]  # validation errors are 400 text (app.py)
    assert operation["responses"]["400"]["content"]["text/plain"]["schema"] == {"type": "string"}
    assert operation["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_web_pages_are_left_out_of_the_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/login" not in paths and "/oauth/authorize" not in paths and "/logout" not in paths
