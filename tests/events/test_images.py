"""Event images (gancio-api.md §5.7): uploads, image_url fetches, the SSRF guard, media files."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from piazza.app import create_app
from piazza.errors import Invalid
from piazza.events.images import check_public_address, fetch_image
from tests.conftest import empty_database
from tests.factories import bearer, make_token, make_user

FUTURE = int(time.time()) + 86400


def png(width: int = 1600, height: int = 800) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


class ImageServer:
    """A local HTTP server; `routes` maps a path to (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = routes.get(self.path, (404, {}, b"no"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    server.routes["/pic.png"] = (200, {"Content-Type": "image/png"}, png())
    server.routes["/page.html"] = (200, {"Content-Type": "text/html"}, b"<html></html>")
    server.routes["/fake.png"] = (200, {"Content-Type": "image/png"}, b"not an image at all")
    server.routes["/to-file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    server.routes["/redirect"] = (302, {"Location": "/pic.png"}, b"")
    yield server
    server.close()


@pytest.fixture
def fetching_client(make_config) -> Iterator[TestClient]:
    """An app that may fetch from 127.0.0.1, as PIAZZA_ALLOW_PRIVATE_FETCH allows."""
    app = create_app(make_config(allow_private_fetch=True))
    with TestClient(app) as test_client:
        yield test_client
    empty_database(app.state.db)
    app.state.db.dispose()


@pytest.fixture
def token(db):
    return make_token(db, make_user(db))


def event_fields(**extra):
    return {"title": "Pic", "start_datetime": str(FUTURE), "place_name": "P", "place_address": "A", **extra}


def test_uploaded_image_is_reencoded_with_a_thumbnail_and_served(client, token, config):
    response = client.post(
        "/api/event",
        data=event_fields(image_focalpoint="0.256,-0.5", image_name="Poster"),
        files={"image": ("poster.png", png(), "image/png")},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    (media,) = response.json()["media"]
    assert (media["width"], media["height"]) == (1200, 600)
    assert media["focalpoint"] == [0.26, -0.5]
    assert media["name"] == "Poster"
    main = client.get(f"/media/{media['url']}")
    thumb = client.get(f"/media/thumb/{media['url']}")
    assert main.headers["content-type"] == "image/jpeg"
    assert "immutable" in main.headers["cache-control"]
    assert len(main.content) == media["size"]
    assert Image.open(io.BytesIO(thumb.content)).size == (500, 250)
    assert (config.media_dir / media["url"]).is_file()


def test_small_images_are_not_enlarged(client, token):
    response = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("s.png", png(300, 200), "image/png")},
        headers=bearer(token),
    )
    assert (response.json()["media"][0]["width"], response.json()["media"][0]["height"]) == (300, 200)


def test_a_file_that_is_not_an_image_is_refused_without_writing(client, token, config):
    response = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("x.png", b"GIF89a-not-really", "image/png")},
        headers=bearer(token),
    )
    assert response.status_code == 400
    assert client.get("/api/events").json() == []
    assert not config.media_dir.exists() or not any(config.media_dir.iterdir())


def test_a_rejected_event_leaves_no_image_file_behind(client, token, config):
    response = client.post(
        "/api/event",
        data=event_fields(place_name=""),
        files={"image": ("p.png", png(), "image/png")},
        headers=bearer(token),
    )
    assert response.status_code == 400
    assert not config.media_dir.exists() or not list(config.media_dir.glob("*.jpg"))


def test_put_with_image_field_keeps_media_and_without_clears_it(client, token, config):
    created = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("p.png", png(), "image/png")},
        headers=bearer(token),
    ).json()
    name = created["media"][0]["url"]
    base = {"id": created["id"], "place_id": created["place"]["id"]}
    kept = client.put(
        "/api/event", json={**base, "image": 1, "image_focalpoint": "0.1,0.2"}, headers=bearer(token)
    )
    assert kept.json()["media"][0]["url"] == name
    assert kept.json()["media"][0]["focalpoint"] == [0.1, 0.2]
    cleared = client.put("/api/event", json=base, headers=bearer(token))
    assert cleared.json()["media"] == []
    assert not (config.media_dir / name).exists()
    assert client.get(f"/media/{name}", follow_redirects=False).headers["location"] == "/fallbackimage.png"


def test_put_with_a_new_upload_replaces_the_old_file(client, token, config):
    created = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("p.png", png(), "image/png")},
        headers=bearer(token),
    ).json()
    old = created["media"][0]["url"]
    replaced = client.put(
        "/api/event",
        data={"id": str(created["id"]), "place_id": str(created["place"]["id"])},
        files={"image": ("q.png", png(800, 800), "image/png")},
        headers=bearer(token),
    ).json()
    assert replaced["media"][0]["url"] != old
    assert not (config.media_dir / old).exists()


def test_image_url_is_fetched_from_a_local_server_when_allowed(fetching_client, db, image_server):
    token = make_token(db, make_user(db))
    body = {**event_fields(), "image_url": f"{image_server.url}/redirect"}
    response = fetching_client.post("/api/event", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["media"][0]["width"] == 1200


@pytest.mark.parametrize(
    ("path", "status"),
    [("/page.html", 400), ("/fake.png", 400), ("/missing.png", 400), ("/to-file", 400)],
)
def test_image_url_that_is_not_a_good_image_is_refused(fetching_client, db, image_server, path, status):
    token = make_token(db, make_user(db))
    body = {**event_fields(), "image_url": f"{image_server.url}{path}"}
    response = fetching_client.post("/api/event", json=body, headers=bearer(token))
    assert response.status_code == status, response.text
    assert fetching_client.get("/api/events").json() == []


def test_image_url_to_loopback_is_refused_by_default(client, token, image_server):
    body = {**event_fields(), "image_url": f"{image_server.url}/pic.png"}
    response = client.post("/api/event", json=body, headers=bearer(token))
    assert (response.status_code, response.text) == (400, "image_url: the address is not allowed")
    assert client.get("/api/events").json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://localhost/x.png",
        "http://[::1]/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.1/x.png",
        "http://172.16.0.1/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://0.0.0.0/x.png",
        "http://224.0.0.1/x.png",
        "http://100.64.0.1/x.png",
        "http://[fd00::1]/x.png",
        "file:///etc/passwd",
        "ftp://example.org/x.png",
    ],
)
def test_ssrf_targets_are_refused(url):
    with pytest.raises(Invalid):
        asyncio.run(fetch_image(url))


@pytest.mark.parametrize(
    "address",
    [
        # IPv6 addresses wrapping a loopback, private or link-local IPv4 one: 6to4, Teredo (client,
        # server), NAT64. Literal addresses only: nothing is resolved or fetched.
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::",
        "2002:c0a8:1::1",
        "2002:a00:1::",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:0:7f00:1:8000:63bf:f7f6:fdd2",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::a00:1",
        "64:ff9b:1::a00:1",
    ],
)
def test_ipv6_addresses_wrapping_a_private_ipv4_address_are_refused(address):
    with pytest.raises(Invalid, match="the address is not allowed"):
        check_public_address(address)


def test_a_6to4_image_url_to_loopback_is_refused_before_any_connection(client, token):
    body = {**event_fields(), "image_url": "http://[2002:7f00:1::1]:9/x.png"}
    response = client.post("/api/event", json=body, headers=bearer(token))
    assert (response.status_code, response.text) == (400, "image_url: the address is not allowed")


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "93.184.216.34", "2002:808:808::1", "64:ff9b::808:808"]
)
def test_public_addresses_pass_the_check(address):
    check_public_address(address)


def test_update_ignores_non_http_image_url(client, token):
    created = client.post("/api/event", json=event_fields(), headers=bearer(token)).json()
    body = {"id": created["id"], "place_id": created["place"]["id"], "image_url": "ftp://x/y.png"}
    assert client.put("/api/event", json=body, headers=bearer(token)).status_code == 200


def test_media_names_cannot_walk_the_filesystem(client):
    assert client.get("/media/..%2Fsecret_key").status_code == 404
    assert client.get("/media/thumb/x.jpg").status_code == 404
