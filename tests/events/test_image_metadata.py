"""The uploader's metadata never reaches a stored file (issue 15): EXIF (GPS), comments, text chunks, XMP
and ICC profiles are dropped from event images, their thumbnails and the instance's images, after the
EXIF orientation has been applied."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo

from tests.events.test_images import event_fields
from tests.factories import bearer, make_token, make_user

SECRETS = (b"SECRET-TEXT", b"SECRET-ITXT", b"SECRET-ZTXT", b"SECRET-COMMENT", b"SECRET-XMP", b"SECRET-CAMERA")
GPS_IFD = 0x8825
ORIENTATION = 0x0112
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif(orientation: int = 1) -> Image.Exif:
    data = Image.Exif()
    data[0x010F] = "SECRET-CAMERA"  # Make
    data[ORIENTATION] = orientation
    gps = data.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (45.0, 26.0, 12.5), 3: "E", 4: (12.0, 19.0, 54.0)})
    return data


def halves(width: int = 1600, height: int = 800) -> Image.Image:
    """Left half red, right half blue: enough to see which way an image was turned."""
    image = Image.new("RGB", (width, height), (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    return image


def png_with_everything() -> bytes:
    info = PngInfo()
    info.add_text("Comment", "SECRET-TEXT")
    info.add_itxt("Author", "SECRET-ITXT", lang="en")
    info.add_text("Description", "SECRET-ZTXT " * 50, zip=True)
    out = io.BytesIO()
    halves().save(out, "PNG", pnginfo=info, exif=exif(), icc_profile=SRGB)
    return out.getvalue()


def jpeg_with_everything(orientation: int = 1) -> bytes:
    out = io.BytesIO()
    halves().save(
        out,
        "JPEG",
        comment="SECRET-COMMENT",
        exif=exif(orientation),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SECRET-XMP</x:xmpmeta>',
        icc_profile=SRGB,
    )
    return out.getvalue()


def assert_clean(data: bytes) -> None:
    for secret in SECRETS:
        assert secret not in data
    with Image.open(io.BytesIO(data)) as stored:
        kept = set(stored.info) & {"exif", "comment", "xmp", "XML:com.adobe.xmp", "icc_profile"}
        assert kept == set()
        assert dict(stored.getexif()) == {}
        assert getattr(stored, "text", {}) == {}
    assert b"Exif\x00\x00" not in data and b"eXIf" not in data


@pytest.mark.parametrize("upload", [png_with_everything, jpeg_with_everything])
def test_an_event_image_and_its_thumbnail_keep_no_metadata(client, db, config, upload):
    token = make_token(db, make_user(db))
    response = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("photo", upload(), "application/octet-stream")},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    (media,) = response.json()["media"]
    for path in (config.media_dir / media["url"], config.media_dir / "thumb" / media["url"]):
        assert_clean(path.read_bytes())
    assert_clean(client.get(f"/media/{media['url']}").content)


@pytest.mark.parametrize("upload", [png_with_everything, jpeg_with_everything])
def test_an_instance_image_keeps_no_metadata(client, db, config, upload):
    headers = bearer(make_token(db, make_user(db, "admin@example.org", role="admin")))
    response = client.post(
        "/api/settings/logo", files={"logo": ("logo", upload(), "image/png")}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert_clean((config.data_dir / "instance" / "logo.png").read_bytes())
    assert_clean(client.get("/logo.png").content)


def colour_at(image: Image.Image, x: float, y: float) -> str:
    red, _, blue = image.convert("RGB").getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))  # type: ignore[misc]
    return "red" if red > blue else "blue"


def upright_points(image: Image.Image) -> list[str]:
    return [colour_at(image, x, y) for x, y in ((0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9))]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_the_exif_orientation_is_applied_before_the_metadata_is_dropped(client, db, config, orientation):
    data = jpeg_with_everything(orientation)
    with Image.open(io.BytesIO(data)) as original:
        expected = ImageOps.exif_transpose(original)
    token = make_token(db, make_user(db))
    response = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("p.jpg", data, "image/jpeg")},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    (media,) = response.json()["media"]
    assert media["width"] / media["height"] == pytest.approx(expected.width / expected.height, rel=0.01)
    with Image.open(config.media_dir / media["url"]) as stored:
        assert upright_points(stored) == upright_points(expected)
    with Image.open(config.media_dir / "thumb" / media["url"]) as thumb:
        assert upright_points(thumb) == upright_points(expected)

    headers = bearer(make_token(db, make_user(db, "admin@example.org", role="admin")))
    response = client.post(
        "/api/settings/logo", files={"logo": ("logo", data, "image/jpeg")}, headers=headers
    )
    assert response.status_code == 200, response.text
    with Image.open(config.data_dir / "instance" / "logo.png") as logo:
        assert logo.width / logo.height == pytest.approx(expected.width / expected.height, rel=0.01)
        assert upright_points(logo) == upright_points(expected)
