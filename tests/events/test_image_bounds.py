"""Image decoding is bounded (issue 15, item 2): memory per decode, decodes at once, pixels per image.

A 142 KB PNG of 7000 x 7000 pixels took about 500 MB to decode and resize, and eight at once 4 GB.
The memory of one decode is measured in a fresh interpreter (the peak RSS it adds), the concurrency
by counting decodes in flight; images over the cap are a 413 that stores nothing, on every route that
decodes one.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from piazza import imaging
from piazza.errors import Invalid
from piazza.events import images as event_images
from piazza.events.models import Event
from tests.events.test_images import ImageServer, event_fields, fetching_client
from tests.factories import bearer, make_token, make_user

__all__ = ["fetching_client"]

MB = 1024 * 1024
# What one decode may add to a process's peak RSS: the budget, plus room for Pillow's and libjpeg's
# own buffers and the encoded files. Before the fix the same images took 190 to 560 MB.
DECODE_BOUND = imaging.DECODE_BUDGET_BYTES + 32 * MB

MEASURE = """
import json, sys
from PIL import Image
from piazza.errors import Invalid
from piazza.events.images import process_image

def status_bytes(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

Image.init()  # every plugin imported before the baseline
data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the RSS of now
before = status_bytes("VmRSS")
try:
    processed = process_image(data)
    outcome = f"{processed.width}x{processed.height}"
except Invalid as exc:
    outcome = exc.status
print(json.dumps({"added": status_bytes("VmHWM") - before, "outcome": outcome}))
"""


def drawing(mode: str, side: int) -> Image.Image:
    """A square of few colours: a tiny file that decodes to many bytes."""
    image = Image.new(mode, (side, side), (200, 30, 30, 128)[: len(mode)])
    ImageDraw.Draw(image).line((0, 0, side - 1, side - 1), fill=(0, 0, 255, 255)[: len(mode)], width=9)
    return image


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def declared_png(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares `width` x `height` pixels."""
    real = encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    ihdr = struct.pack(">II", width, height) + real[24:29]
    chunk = b"IHDR" + ihdr
    return real[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + real[33:]


def largest_progressive_jpeg_side() -> int:
    """The side of the largest square 4:2:0 progressive JPEG the budget lets through (bench/images.py)."""
    side = math.isqrt(imaging.MAX_JPEG_PIXELS)
    while True:
        scale = next(s for s in (8, 4, 2, 1) if s <= max(1, side // 1200))
        padded = math.ceil(side / 16) * 16
        if 3 * padded * padded + 8 * math.ceil(side / scale) ** 2 <= imaging.DECODE_BUDGET_BYTES:
            return side
        side -= 16


@pytest.fixture(scope="module")
def worst_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("worst-images")
    side = math.isqrt(imaging.MAX_PIXELS)
    jpeg_side = largest_progressive_jpeg_side()
    files = {
        "rgba-png": encoded(drawing("RGBA", side), "PNG"),
        "progressive-jpeg": encoded(drawing("RGB", jpeg_side), "JPEG", progressive=True, subsampling=2),
        "png-7000": encoded(drawing("RGB", 7000), "PNG"),  # the image
        "declared-50000": declared_png(50_000, 50_000),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def measured(path: Path) -> dict[str, object]:
    done = subprocess.run(  # noqa: S603  (our own interpreter, our own code)
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("name", ["rgba-png", "progressive-jpeg"])
def test_decoding_the_worst_allowed_image_stays_within_the_bound(worst_images, name):
    result = measured(worst_images[name])
    assert isinstance(result["outcome"], str), result  # accepted and re-encoded
    assert result["added"] < DECODE_BOUND, f"{result['added'] / MB:.0f} MB"


@pytest.mark.parametrize("name", ["png-7000", "declared-50000"])
def test_an_image_over_the_cap_is_refused_before_its_pixels_are_decoded(worst_images, name):
    result = measured(worst_images[name])
    assert result["outcome"] == 413
    assert result["added"] < 16 * MB, f"{result['added'] / MB:.0f} MB"


def test_decodes_run_one_at_a_time_whatever_the_number_of_threads(monkeypatch):
    in_flight = 0
    most = 0
    changed = threading.Condition()
    real_decode = event_images.decode_fitted

    def counting_decode(*args: object, **kwargs: object) -> Image.Image:
        nonlocal in_flight, most
        with changed:
            in_flight += 1
            most = max(most, in_flight)
            changed.notify_all()
            # Give another thread the chance to enter: it could only if nothing held it back.
            changed.wait_for(lambda: in_flight > 1, timeout=0.5)
        try:
            return real_decode(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with changed:
                in_flight -= 1

    monkeypatch.setattr(event_images, "decode_fitted", counting_decode)
    data = encoded(drawing("RGB", 800), "PNG")
    threads = [threading.Thread(target=event_images.process_image, args=(data,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert most == imaging.DECODES_AT_ONCE == 1


def test_uploads_waiting_for_their_turn_hold_no_thread_of_the_pool():
    entered = 0
    first_in = threading.Event()
    release = threading.Event()

    def work() -> None:
        nonlocal entered
        entered += 1
        first_in.set()
        release.wait(timeout=30)

    async def burst() -> int:
        tasks = [asyncio.create_task(imaging.in_turn(work)) for _ in range(8)]
        await asyncio.to_thread(first_in.wait, 30)
        for _ in range(20):  # let every other task run as far as it can
            await asyncio.sleep(0)
        waiting_in_threads = entered - 1
        release.set()
        await asyncio.gather(*tasks)
        return waiting_in_threads

    assert asyncio.run(burst()) == 0
    assert entered == 8


def media_files(media_dir: Path) -> list[Path]:
    return [path for path in media_dir.rglob("*") if path.is_file()] if media_dir.exists() else []


def events_stored(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Event)) or 0


@pytest.mark.parametrize(
    "data",
    [declared_png(50_000, 50_000), declared_png(5000, 5000), declared_png(1200, 20_000)],
    ids=["declared-50000", "over-the-cap", "tall-over-the-cap"],
)
def test_an_upload_over_the_pixel_cap_is_413_and_stores_nothing(client, db, config, data):
    token = make_token(db, make_user(db))
    response = client.post(
        "/api/event",
        data=event_fields(),
        files={"image": ("big.png", data, "image/png")},
        headers=bearer(token),
    )
    assert response.status_code == 413, response.text
    assert "megapixels" in response.text
    assert events_stored(db) == 0
    assert media_files(config.media_dir) == []


def test_a_fetched_image_over_the_pixel_cap_is_413_and_stores_nothing(fetching_client):
    client = fetching_client
    db, config = client.app.state.db, client.app.state.config
    server = ImageServer()
    server.routes["/bomb.png"] = (200, {"Content-Type": "image/png"}, declared_png(5000, 5000))
    try:
        token = make_token(db, make_user(db))
        response = client.post(
            "/api/event",
            json={**event_fields(), "image_url": f"{server.url}/bomb.png"},
            headers=bearer(token),
        )
    finally:
        server.close()
    assert response.status_code == 413, response.text
    assert events_stored(db) == 0
    assert media_files(config.media_dir) == []


def test_an_instance_image_over_the_pixel_cap_is_413_and_stores_nothing(client, db, config):
    headers = bearer(make_token(db, make_user(db, "admin@example.org", role="admin")))
    response = client.post(
        "/api/settings/logo",
        files={"logo": ("logo.png", declared_png(5000, 5000), "image/png")},
        headers=headers,
    )
    assert response.status_code == 413, response.text
    assert not (config.data_dir / "instance" / "logo.png").exists()


def animation(fmt: str) -> bytes:
    """Two frames: red, then blue."""
    frames = [Image.new("RGB", (300, 200), colour) for colour in ((220, 0, 0), (0, 0, 220))]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animated_image_is_stored_as_its_first_frame(fmt):
    processed = event_images.process_image(animation(fmt))
    with Image.open(io.BytesIO(processed.main)) as stored:
        assert getattr(stored, "n_frames", 1) == 1
        red, green, blue = stored.convert("RGB").getpixel((150, 100))  # type: ignore[misc]
    assert red > 150 and blue < 80


def test_a_truncated_image_is_a_400():
    data = encoded(drawing("RGB", 600), "PNG")
    with pytest.raises(Invalid) as refused:
        event_images.process_image(data[: len(data) // 2])
    assert refused.value.status == 400
