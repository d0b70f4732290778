"""Memory of image uploads (issue 15): peak RSS per worker while many uploads of the worst image run.

Starts `piazza serve` with 2 workers on a fresh SQLite data folder, sends `--uploads` concurrent
anonymous `POST /api/event` requests (the `allow_anon_event` default) each carrying the worst image
the code under test accepts, and prints, per worker process, its peak RSS (VmHWM) and its RSS once the
uploads are done, with the answers' status codes. The worst image is the largest the pixel cap lets
through, as a small file of few colours: an RGBA PNG by default (its alpha costs a conversion copy),
`--kind progressive-jpeg` (coefficients buffered for the whole image), or `--kind big-png`, the PNG
with rows of noise that make it a 9 MB file (each upload's body counts too).

    .venv/bin/python bench/images.py [--uploads 16] [--kind rgba-png|big-png|rgb-png|progressive-jpeg]

It measures whatever `piazza` the interpreter imports, so PYTHONPATH=<checkout>/src measures another
checkout (the servers inherit it). Target: every worker under 300 MB.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

WORKERS = 2
TARGET_MB = 300


def largest_side(kind: str) -> int:
    """The side of the largest square image of `kind` the code under test accepts."""
    try:
        from piazza import imaging
    except ImportError:  # before issue 15: one cap in events/images.py, checked with `>`
        from piazza.events import images

        return math.isqrt(int(getattr(images, "MAX_IMAGE_PIXELS")) - 1)  # noqa: B009  (gone since)
    if kind != "progressive-jpeg":
        return math.isqrt(imaging.MAX_PIXELS)
    # A 4:2:0 JPEG: 3 bytes a pixel of coefficients, plus 8 a pixel of the decode at 1/2..1/8 scale.
    side = math.isqrt(imaging.MAX_JPEG_PIXELS)
    while True:
        scale = next(s for s in (8, 4, 2, 1) if s <= max(1, side // 1200))
        padded = math.ceil(side / 16) * 16
        if 3 * padded * padded + 8 * (math.ceil(side / scale)) ** 2 <= imaging.DECODE_BUDGET_BYTES:
            return side
        side -= 16


def worst_image(kind: str) -> tuple[bytes, str, str]:
    """The image bytes, their file name and content type."""
    side = largest_side(kind)
    mode = "RGB" if kind in ("rgb-png", "progressive-jpeg") else "RGBA"
    image = Image.new(mode, (side, side), (200, 30, 30, 128)[: len(mode)])
    ImageDraw.Draw(image).line((0, 0, side - 1, side - 1), fill=(0, 0, 255, 255)[: len(mode)], width=9)
    out = io.BytesIO()
    if kind == "progressive-jpeg":
        image.save(out, "JPEG", progressive=True, quality=50, subsampling=2)
        return out.getvalue(), "worst.jpg", "image/jpeg"
    if kind == "big-png":  # rows of noise until the file nears the 10 MiB upload cap
        rows = 9 * 1024 * 1024 // (4 * side)
        image.paste(Image.frombytes("RGBA", (side, rows), os.urandom(4 * side * rows)), (0, 0))
    image.save(out, "PNG")
    return out.getvalue(), "worst.png", "image/png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes under `parent` (multiprocessing children, not its helpers)."""
    pids = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                pids.append(int(child))
    return sorted(pids)


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def upload(base: str, data: bytes, name: str, content_type: str) -> int:
    fields = {
        "title": "Poster",
        "start_datetime": str(int(time.time()) + 86400),
        "place_name": "Hall",
        "place_address": "Main street 1",
    }
    response = httpx.post(
        f"{base}/api/event", data=fields, files={"image": (name, data, content_type)}, timeout=600
    )
    return response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=16)
    kinds = ["rgba-png", "big-png", "rgb-png", "progressive-jpeg"]
    parser.add_argument("--kind", choices=kinds, default="rgba-png")
    args = parser.parse_args()

    data, name, content_type = worst_image(args.kind)
    side = largest_side(args.kind)
    print(f"{args.kind} of {side} x {side} pixels, {len(data) / 1024:.0f} KB; {args.uploads} at once")
    folder = Path(tempfile.mkdtemp(prefix="piazza-bench-images-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIAZZA_")}
    env |= {
        "PIAZZA_DATA_DIR": str(folder),
        "PIAZZA_DATABASE_URL": f"sqlite:///{folder}/piazza.sqlite",
        "PIAZZA_PORT": str(port),
        "PIAZZA_BASE_URL": base,
        "PIAZZA_WORKERS": str(WORKERS),
        "PIAZZA_RATE_LIMITS": "off",
        "PIAZZA_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "piazza", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("piazza serve did not start")
            time.sleep(0.2)
        time.sleep(1)  # both workers up
        pids = worker_pids(server.pid)
        started = {pid: status_mb(pid, "VmRSS") for pid in pids}
        began = time.monotonic()
        with ThreadPoolExecutor(args.uploads) as pool:
            answers = pool.map(lambda _: upload(base, data, name, content_type), range(args.uploads))
            statuses = Counter(answers)
        took = time.monotonic() - began
        time.sleep(1)
        print(f"answers: {dict(statuses)} in {took:.1f} s")
        print(f"{'worker':>8} {'RSS at start':>13} {'peak RSS':>9} {'RSS after':>10}")
        for pid in pids:
            peak = status_mb(pid, "VmHWM")
            verdict = "ok" if peak < TARGET_MB else f"over {TARGET_MB} MB"
            after = status_mb(pid, "VmRSS")
            print(f"{pid:>8} {started[pid]:>10.0f} MB {peak:>6.0f} MB {after:>7.0f} MB  {verdict}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
