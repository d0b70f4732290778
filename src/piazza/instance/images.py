"""The instance's logo, fallback image and header image (gancio-api.md §2.9, §2.16).

An upload is decoded with Pillow (anything else is refused) within piazza.imaging's memory bound,
shrunk to its width (never enlarged; at most three widths tall), stripped of its metadata, re-encoded
as PNG and stored under the data folder with a fixed name; the setting records that it is set. Files
are served only from those fixed names, never from a path taken from a setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from piazza.durable import replace_file
from piazza.errors import Invalid
from piazza.imaging import UnreadableImage, decode_fitted, decode_slot, encode, give_back_freed_memory
from piazza.instance.settings import get_setting, set_setting

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
CACHE_CONTROL = "public, max-age=600"  # Gancio: 10 minutes


@dataclass(frozen=True)
class InstanceImage:
    field: str  # the multipart field and the last segment of the upload route
    setting: str
    file_name: str  # stored under <data>/instance/ and bundled under web/static/
    width: int
    url: str


IMAGES = {
    image.field: image
    for image in (
        InstanceImage("logo", "logo", "logo.png", 400, "/logo.png"),
        InstanceImage("fallbackImage", "fallback_image", "fallbackimage.png", 600, "/fallbackimage.png"),
        InstanceImage("headerImage", "header_image", "headerimage.png", 600, "/headerimage.png"),
    )
}


def images_dir(data_dir: Path) -> Path:
    return data_dir / "instance"


def to_png(data: bytes, width: int) -> bytes:
    """Decode any image Pillow knows, fit it to `width` (never wider) and encode it as PNG.

    Upright, in sRGB, with no metadata; decoded within piazza.imaging's bound. Raises Invalid (400)
    for something that is not an image or too big a file, TooManyPixels (413) for too many pixels.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(f"the image is too large (at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)")
    try:
        with decode_slot():
            image = decode_fitted(data, (width, width * 3), alpha=True)
            return encode(image, "PNG", optimize=True)
    except UnreadableImage:
        raise Invalid("not an image") from None
    finally:
        give_back_freed_memory()


def _write_atomically(path: Path, data: bytes) -> None:
    replace_file(path, data, prefix=".upload-")


def save_image(db: Session, data_dir: Path, image: InstanceImage, png: bytes | None) -> None:
    """Store the PNG and record it in the setting; None resets to the bundled default (setting false)."""
    path = images_dir(data_dir) / image.file_name
    if png is None:
        set_setting(db, image.setting, False)
        path.unlink(missing_ok=True)
        return
    set_setting(db, image.setting, image.file_name)
    db.flush()  # a failing write stops here, before the file is replaced
    _write_atomically(path, png)


def image_path(db: Session, data_dir: Path, image: InstanceImage) -> Path:
    """The file to serve: the uploaded one when set and present, else the bundled default."""
    if get_setting(db, image.setting):
        path = images_dir(data_dir) / image.file_name
        if path.is_file():
            return path
    return STATIC_DIR / image.file_name
