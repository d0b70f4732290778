"""Decoding untrusted images within a bound on memory, for event images and the instance's images.

An image file is small, its decoded pixels are not: a 142 KB PNG of 7000 x 7000 pixels took about
500 MB while it was decoded, converted and resized, and several at once took gigabytes. Here:

- the size an image declares is checked before any pixel is decoded (a PNG that declares a huge
  size in a tiny file costs nothing); DECODE_BUDGET_BYTES bounds what the decode may take, for JPEG
  its coefficient buffers included (progressive and multi-scan JPEGs keep them for the whole image);
- JPEGs are decoded at a reduced scale (`Image.draft`, 1/2 to 1/8) when the result is shrunk anyway;
  other formats are reduced by whole factors before the smooth resize, so no full-size copy is made
  beyond one mode conversion, and the full-size image is released as soon as it is reduced;
- at most DECODES_AT_ONCE decodes run at once in a process, whatever the number of requests, as for
  password hashing (accounts/passwords.py): the others wait for their turn;
- only the first frame of an animated image (GIF, APNG, WebP) is decoded;
- the EXIF orientation is applied, colours are converted to sRGB when the file carries an ICC profile,
  and then every piece of metadata (EXIF with GPS, comments, text chunks, XMP, ICC) is dropped, so the
  stored file holds pixels only.
"""

from __future__ import annotations

import asyncio
import ctypes
import io
import math
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar, cast

from PIL import Image, ImageCms, JpegImagePlugin
from starlette.concurrency import run_in_threadpool

from piazza.errors import Invalid

# What one decode may hold at its peak, estimated from the header before decoding: 8 bytes a pixel
# for most formats (Pillow keeps RGB(A) as 4 bytes a pixel, and one mode conversion or the alpha
# premultiplication of a resize copies it once), for JPEG the coefficient buffers plus 8 bytes a pixel
# of the reduced decode. 16.7 megapixels of PNG fit; a JPEG of 38 (4:2:0), 29 (4:2:2) or 20 (4:4:4).
DECODE_BUDGET_BYTES = 128 * 1024 * 1024
MAX_PIXELS = DECODE_BUDGET_BYTES // 8  # 16.7 megapixels: the cap for all but JPEG
MAX_JPEG_PIXELS = 50_000_000  # a JPEG may declare more, decoded reduced, if its buffers fit the budget
# With 2 workers on 2 cores one decode per worker keeps the cores busy; more would only add memory.
DECODES_AT_ONCE = 1
_decoding = threading.BoundedSemaphore(DECODES_AT_ONCE)
# Requests waiting for their turn wait on the event loop, not in the thread pool, so a burst of uploads
# cannot take every thread of the pool that database work runs in. One semaphore per event loop.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()

P = ParamSpec("P")
T = TypeVar("T")

_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SRGB = ImageCms.createProfile("sRGB")


class TooManyPixels(Invalid):
    status = 413
    message = f"image too big: at most {MAX_PIXELS // 1_000_000} megapixels"


class UnreadableImage(Invalid):
    message = "not a readable image file"


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one of the DECODES_AT_ONCE slots: around a decode and everything made from its pixels."""
    with _decoding:
        yield


async def in_turn(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `work` (which decodes inside `decode_slot()`) in the thread pool once a turn is free."""
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(DECODES_AT_ONCE)
    async with turns:
        return await run_in_threadpool(work, *args, **kwargs)


def decode_fitted(data: bytes, box: tuple[int, int], *, alpha: bool) -> Image.Image:
    """Decode `data` upright and fitted into `box` (never enlarged), as RGB or RGBA, with no metadata.

    Raises TooManyPixels (413) for an image over the budget and UnreadableImage (400) for anything
    Pillow cannot read. Call it inside `decode_slot()`.
    """
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check (far above ours) would only warn below twice its limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as source:
                return _fitted(source, box, "RGBA" if alpha else "RGB")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise TooManyPixels() from None
    except Invalid:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError, KeyError, MemoryError):
        # Pillow's plugins raise any of these for truncated, corrupt or odd files.
        raise UnreadableImage() from None


def _fitted(source: Image.Image, box: tuple[int, int], mode: str) -> Image.Image:
    declared = source.size
    is_jpeg = isinstance(source, JpegImagePlugin.JpegImageFile)
    if not is_jpeg and _decode_cost(source, declared, is_jpeg) > DECODE_BUDGET_BYTES:
        raise TooManyPixels()  # before the EXIF lookup below, which decodes a PNG to find its chunk
    orientation = _orientation(source)
    if orientation in (5, 6, 7, 8):  # turned a quarter: the stored image is fitted into the box turned
        box = (box[1], box[0])
    target = _fit(declared, box)
    if is_jpeg and target != declared:
        source.draft(None, target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below `target`
    if _decode_cost(source, declared, is_jpeg) > DECODE_BUDGET_BYTES:
        raise TooManyPixels()
    icc_profile = source.info.get("icc_profile")
    source.load()  # the first frame only
    image = _converted(source, mode)
    if image.size != target:
        # Whole-factor reduction first (cheap, and it frees the large image early), then Lanczos.
        shrunk = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
        image.close()
        image = shrunk
    elif image is source:
        image = source.copy()  # small: within the box
    source.close()
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    if icc_profile:
        image = _in_srgb(image, icc_profile)
    image.info = {}  # EXIF (GPS), comments, text chunks, XMP, ICC: none of it is written again
    return image


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(box[0] / width, box[1] / height, 1.0)
    if scale == 1.0:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode_cost(source: Image.Image, declared: tuple[int, int], is_jpeg: bool) -> int:
    """The bytes a decode of `source` may take at its peak (see DECODE_BUDGET_BYTES)."""
    width, height = source.size  # after `draft`, the reduced size of a JPEG
    if not is_jpeg:
        return width * height * 8
    declared_width, declared_height = declared
    if declared_width * declared_height > MAX_JPEG_PIXELS:
        return DECODE_BUDGET_BYTES + 1
    # Each component keeps 2 bytes per sample of coefficients; chroma components are subsampled.
    layers: list[tuple[int, int, int, int]] = getattr(source, "layer", None) or [(0, 1, 1, 0)] * 3
    sampling = [(max(1, h), max(1, v)) for _, h, v, _ in layers]  # (id, h, v, table) from the SOF
    most = max(h for h, _ in sampling) * max(v for _, v in sampling)
    padded = math.ceil(declared_width / 16) * 16 * math.ceil(declared_height / 16) * 16
    coefficients = sum(2 * padded * h * v // most for h, v in sampling)
    return coefficients + width * height * 8


def _orientation(source: Image.Image) -> int:
    try:
        value = source.getexif().get(_ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block is ignored, as browsers do
        return 1
    return int(value) if isinstance(value, int) else 1


def _converted(image: Image.Image, mode: str) -> Image.Image:
    """`image` in `mode`, the original released at once (it may be the one full-size copy)."""
    if image.mode == mode:
        return image
    converted = image.convert(mode)
    image.close()
    return converted


def _in_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image:
    """The pixels converted from the file's colour profile to sRGB; unchanged if the profile is unusable."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def encode(image: Image.Image, format_name: str, **options: object) -> bytes:
    """`image` encoded with no metadata at all (Pillow would copy a comment kept in `info`)."""
    image.info = {}
    out = io.BytesIO()
    image.save(out, format_name, **options)
    return out.getvalue()


def give_back_freed_memory() -> None:
    """Return freed heap pages to the system after a decode (glibc keeps them otherwise; see README)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the symbols of the running process, libc's among them
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast("Callable[[int], int]", trim)


_malloc_trim = _libc_malloc_trim()
