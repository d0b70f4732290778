"""The logo, fallback and header images (gancio-api.md §2.9, §2.16)."""

import io

import pytest
from PIL import Image

from piazza.instance.images import STATIC_DIR
from tests.factories import bearer, make_token, make_user

ROUTES = [
    ("logo", "/logo.png", 400),
    ("fallbackImage", "/fallbackimage.png", 600),
    ("headerImage", "/headerimage.png", 600),
]


def picture(width, height, fmt="JPEG"):
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, format=fmt)
    return out.getvalue()


def size_of(png_bytes):
    with Image.open(io.BytesIO(png_bytes)) as image:
        return image.format, image.size


@pytest.fixture
def admin_headers(db):
    return bearer(make_token(db, make_user(db, "admin@example.org", role="admin")))


@pytest.mark.parametrize(("field", "url", "width"), ROUTES)
def test_an_uploaded_image_is_served_as_png_at_its_width(client, admin_headers, field, url, width):
    files = {field: ("pic.jpg", picture(1200, 600), "image/jpeg")}
    response = client.post(f"/api/settings/{field}", files=files, headers=admin_headers)
    assert response.status_code == 200
    served = client.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=600"
    assert size_of(served.content) == ("PNG", (width, width // 2))


@pytest.mark.parametrize(("field", "url", "width"), ROUTES)
def test_without_an_upload_the_bundled_default_is_served(client, field, url, width):
    served = client.get(url)
    assert served.status_code == 200
    assert served.content == (STATIC_DIR / url.lstrip("/")).read_bytes()


def test_a_small_image_is_not_enlarged(client, admin_headers):
    client.post(
        "/api/settings/logo",
        files={"logo": ("p.png", picture(50, 20, "PNG"), "image/png")},
        headers=admin_headers,
    )
    assert size_of(client.get("/logo.png").content) == ("PNG", (50, 20))


def test_a_post_without_a_file_resets_to_the_default(client, admin_headers):
    client.post(
        "/api/settings/logo",
        files={"logo": ("p.jpg", picture(800, 800), "image/jpeg")},
        headers=admin_headers,
    )
    response = client.post("/api/settings/logo", data={}, headers=admin_headers)
    assert response.status_code == 200
    assert client.get("/logo.png").content == (STATIC_DIR / "logo.png").read_bytes()
    assert client.get("/api/settings", headers=admin_headers).json()["logo"] is False


def test_something_that_is_not_an_image_is_400(client, admin_headers):
    for content in (b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF89a broken", b"\x89PNG\r\n\x1a\nnope"):
        response = client.post(
            "/api/settings/headerImage",
            files={"headerImage": ("x.png", content, "image/png")},
            headers=admin_headers,
        )
        assert response.status_code == 400, content
    assert client.get("/headerimage.png").content == (STATIC_DIR / "headerimage.png").read_bytes()


def test_a_path_stored_in_the_setting_is_never_served(client, admin_headers):
    client.post("/api/settings", json={"key": "logo", "value": "/etc/passwd"}, headers=admin_headers)
    assert client.get("/logo.png").content == (STATIC_DIR / "logo.png").read_bytes()


def test_uploads_need_an_admin(client, db):
    files = {"logo": ("p.jpg", picture(10, 10), "image/jpeg")}
    assert client.post("/api/settings/logo", files=files).status_code == 403
    token = make_token(db, make_user(db, role="editor"))
    assert client.post("/api/settings/logo", files=files, headers=bearer(token)).status_code == 403
