"""Event images (gancio-api.md §5.7): decode and re-encode uploads, fetch `image_url` safely, store files.

Every image is decoded with Pillow and re-encoded to JPEG (at most 1200 px wide, and a 500 px
thumbnail), so nothing but a clean JPEG ever reaches the media folder: upright, in sRGB, without the
uploader's metadata (EXIF and its GPS position, comments, text chunks). Decoding is bounded in memory
and in concurrency by piazza.imaging.

`image_url` is fetched server-side, which makes the server a client of whatever URL a caller names
(SSRF). The fetch therefore resolves the host itself, refuses private, loopback, link-local, multicast
and reserved addresses (unless `allow_private_fetch` is set), and connects to the very address it
checked, so a second DNS answer cannot swap in an internal one (DNS rebinding). Each redirect is
checked the same way. Size, time and content type are capped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image

from piazza.errors import Invalid
from piazza.imaging import UnreadableImage, decode_fitted, decode_slot, encode, give_back_freed_memory

MAX_IMAGE_BYTES = 20 * 1024 * 1024
# Widths as in Gancio; heights capped at three times the width, so a very tall image cannot make a
# stored file (and its resize) of many megapixels.
MAIN_BOX = (1200, 3600)
THUMB_BOX = (500, 1500)
FETCH_TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 3
THUMB_FOLDER = "thumb"


class ImageTooLarge(Invalid):
    status = 413
    message = "image too big"


@dataclass(frozen=True)
class ProcessedImage:
    """A decoded, re-encoded image not yet written; `name` is its future file name."""

    name: str
    main: bytes
    thumb: bytes
    width: int
    height: int

    @property
    def size(self) -> int:
        return len(self.main)


def process_image(source: bytes | BinaryIO) -> ProcessedImage:
    """Decode any image Pillow reads and re-encode it as JPEG, within piazza.imaging's memory bound.

    A file (an upload) is read only once the decode's turn has come. Raises Invalid (400) if it is not
    an image, ImageTooLarge or TooManyPixels (413) if it is too big.
    """
    try:
        with decode_slot():
            data = source if isinstance(source, bytes) else source.read(MAX_IMAGE_BYTES + 1)
            if len(data) > MAX_IMAGE_BYTES:
                raise ImageTooLarge()
            main = decode_fitted(data, MAIN_BOX, alpha=False)
            thumb = main.resize(_fit(main.size, THUMB_BOX), Image.Resampling.LANCZOS, reducing_gap=2.0)
            processed = ProcessedImage(
                name=f"{secrets.token_hex(16)}.jpg",
                main=_jpeg(main),
                thumb=_jpeg(thumb),
                width=main.width,
                height=main.height,
            )
    except UnreadableImage:
        raise Invalid("image: not a readable image file", field="image") from None
    finally:
        give_back_freed_memory()
    return processed


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / size[0], box[1] / size[1], 1.0)  # never enlarged
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _jpeg(image: Image.Image) -> bytes:
    return encode(image, "JPEG", quality=90, progressive=True, optimize=True)


def save_image(media_dir: Path, image: ProcessedImage) -> None:
    (media_dir / THUMB_FOLDER).mkdir(parents=True, exist_ok=True)
    (media_dir / image.name).write_bytes(image.main)
    (media_dir / THUMB_FOLDER / image.name).write_bytes(image.thumb)


def delete_image_files(media_dir: Path, name: str) -> None:
    if not is_media_name(name):
        return
    for path in (media_dir / name, media_dir / THUMB_FOLDER / name):
        path.unlink(missing_ok=True)


def is_media_name(name: str) -> bool:
    """True for names this module creates: 32 hex digits and `.jpg`; nothing that could walk a path."""
    stem, dot, ext = name.partition(".")
    return dot == "." and ext == "jpg" and len(stem) == 32 and all(c in "0123456789abcdef" for c in stem)


def media_item(image: ProcessedImage, name: str, focalpoint: list[float]) -> dict[str, object]:
    """The stored `media` entry (§5.7)."""
    return {
        "url": image.name,
        "height": image.height,
        "width": image.width,
        "name": name,
        "size": image.size,
        "focalpoint": focalpoint,
    }


def parse_focalpoint(value: object) -> list[float] | None:
    """`"x,y"` as two numbers rounded to 2 decimals and kept within [-1, 1]; None if unparsable."""
    if isinstance(value, list | tuple) and len(value) == 2:
        parts = [str(v) for v in value]
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        return None
    if len(parts) != 2:
        return None
    try:
        numbers = [round(float(p), 2) for p in parts]
    except ValueError:
        return None
    if any(n != n for n in numbers):  # NaN
        return None
    return [min(max(n, -1.0), 1.0) for n in numbers]


# --- fetching image_url -------------------------------------------------------------------------------


# NAT64's well-known prefix (RFC 6052): a gateway sends these to the IPv4 address in the last 32 bits.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses_reached(ip: IPAddress) -> list[IPAddress]:
    """The addresses a connection to `ip` ends up at: an IPv6 address that wraps an IPv4 one is judged by
    what it wraps too (a 6to4 or Teredo relay, a NAT64 gateway or the local stack delivers it there)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in NAT64_PREFIX:  # the prefix itself is "reserved"; only the IPv4 address behind it counts
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    reached: list[IPAddress] = [ip]
    if ip.sixtofour is not None:  # 2002::/16
        reached.append(ip.sixtofour)
    if ip.teredo is not None:  # 2001::/32: (server, client)
        reached.extend(ip.teredo)
    return reached


def check_public_address(address: str, field: str = "image_url") -> None:
    """Raise Invalid unless `address`, and any IPv4 address it wraps, is a public unicast address."""
    for ip in _addresses_reached(ipaddress.ip_address(address)):
        if (
            not ip.is_global
            or ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        ):
            raise Invalid(f"{field}: the address is not allowed", field=field)


async def resolve_fetchable(host: str, port: int, allow_private: bool, field: str = "image_url") -> str:
    """One address of `host` that may be fetched; every address is checked, not just the first.
    Raises Invalid naming `field`. Connect to the address returned, never to the name again."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Invalid(f"{field}: the host does not resolve", field=field) from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Invalid(f"{field}: the host does not resolve", field=field)
    if not allow_private:
        for address in addresses:
            check_public_address(address, field)
    return addresses[0]


async def fetch_image(url: str, *, allow_private: bool = False) -> bytes:
    """Download an image for `image_url`. Raises Invalid (400) or ImageTooLarge (413)."""
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_SECONDS * 2):
            return await _fetch(url, allow_private)
    except TimeoutError:
        raise Invalid("image_url: the download timed out", field="image_url") from None


async def _fetch(url: str, allow_private: bool) -> bytes:
    timeout = httpx.Timeout(FETCH_TIMEOUT_SECONDS)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Invalid("image_url: only http and https URLs can be fetched", field="image_url")
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise Invalid("image_url: bad port", field="image_url") from None
            address = await resolve_fetchable(parts.hostname, port, allow_private)
            host_in_url = f"[{address}]" if ":" in address else address
            pinned = parts._replace(netloc=f"{host_in_url}:{port}").geturl()
            request = client.build_request(
                "GET",
                pinned,
                headers={"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*"},
                # TLS still verifies the certificate against the name, not the address.
                extensions={"sni_hostname": parts.hostname},
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError:
                raise Invalid("image_url: the download failed", field="image_url") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise Invalid(f"image_url: the server answered {response.status_code}", field="image_url")
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if not content_type.startswith("image/"):
                    raise Invalid("image_url: not an image", field="image_url")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
                    raise ImageTooLarge()
                body = bytearray()
                try:
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_IMAGE_BYTES:
                            raise ImageTooLarge()
                except httpx.HTTPError:
                    raise Invalid("image_url: the download failed", field="image_url") from None
                return bytes(body)
            finally:
                await response.aclose()
    raise Invalid("image_url: too many redirects", field="image_url")
