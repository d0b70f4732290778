"""/static/: the two stylesheets, served by Starlette's StaticFiles with the caching headers the pages
rely on; nothing else of web/static/ is reachable there."""

from __future__ import annotations

from pathlib import Path

import pytest

import piazza.web

STATIC = Path(piazza.web.__file__).parent / "static"


@pytest.mark.parametrize("name", ["piazza.css", "admin.css"])
def test_a_stylesheet_is_css_cached_for_an_hour_and_revalidated_by_etag(client, name):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.content == (STATIC / name).read_bytes()
    assert "content-security-policy" not in response.headers  # a stylesheet, not a page
    again = client.get(f"/static/{name}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "public, max-age=3600"
    head = client.head(f"/static/{name}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(response.content))


@pytest.mark.parametrize(
    "path",
    [
        "/static/logo.png",  # bundled, but served as /logo.png
        "/static/nothing.css",
        "/static/",
        "/static/../app.py",
        "/static/%2e%2e/render.py",
        "/static/templates/login.html",
    ],
)
def test_anything_else_under_static_is_404_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_a_stylesheet_is_read_only(client):
    assert client.post("/static/piazza.css").status_code == 405
