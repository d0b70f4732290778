"""Reading event bodies the way Gancio clients send them (gancio-api.md §0.3, §2.3).

`POST` and `PUT /api/event` take JSON, url-encoded forms or multipart. Lists arrive as a JSON array,
as `tags[]` (multipart, as the web client sends), or as a repeated `tags` key (forms). The result is a
plain dict of field values, where an absent field is absent: update rules depend on absence (§5.3).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, BinaryIO

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from piazza import json_input
from piazza.db.base import MAX_ROW_ID
from piazza.errors import Invalid
from piazza.events.images import MAX_IMAGE_BYTES, ImageTooLarge

LIST_FIELDS = ("tags", "online_locations")
MAX_FORM_FIELDS = 200
MAX_FORM_FILES = 2
MAX_FIELD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """An uploaded file, left where Starlette spooled it (on disk beyond 1 MB) until its turn to be
    decoded comes (piazza.imaging), so uploads waiting for their turn hold no memory. Whoever takes it
    closes the file (a temporary file, deleted on close)."""

    file: BinaryIO
    filename: str


async def read_event_body(request: Request) -> tuple[dict[str, Any], Upload | None]:
    """The body's fields and the uploaded `image` file, if any. Raises Invalid for a malformed body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        raw = await request.body()
        if not raw.strip():
            return {}, None
        try:
            data = json_input.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Invalid("Bad Request") from None
        if not isinstance(data, dict):
            raise Invalid("Bad Request")
        return data, None
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(
                max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES
            )
        except (MultiPartException, UnicodeDecodeError, ValueError) as exc:
            raise Invalid(f"Bad Request: {exc}") from None
        try:
            fields: dict[str, Any] = {}
            upload: Upload | None = None
            for key in dict.fromkeys(form.keys()):
                name = key[:-2] if key.endswith("[]") else key
                values = form.getlist(key)
                if name == "image":
                    for value in values:
                        if isinstance(value, UploadFile):
                            size = value.size if value.size is not None else _size_of(value.file)
                            if size > MAX_IMAGE_BYTES:
                                raise ImageTooLarge()
                            # A file part without content is the "dummy file" some clients always send.
                            if size:
                                await value.seek(0)
                                upload = Upload(file=value.file, filename=value.filename or "")
                                # The file is handed on: closing the form below must not close it.
                                value.file = io.BytesIO()
                        else:
                            fields["image"] = value
                    continue
                texts = [v for v in values if isinstance(v, str)]
                if name in LIST_FIELDS:
                    # A form cannot tell a one-element list from a scalar, so every form value is a list.
                    fields.setdefault(name, []).extend(texts)
                elif texts:
                    fields[name] = texts[-1]
        finally:
            await form.close()
        return fields, upload
    if await request.body():
        raise Invalid("Bad Request: send JSON, a url-encoded form or multipart")
    return {}, None


def parse_number(value: Any) -> float | None:
    """JavaScript's Number(value) where it is sane: a finite number or None (for NaN and the like)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def parse_id(value: Any) -> int | None:
    """A positive integer id from a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ROW_ID else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number <= MAX_ROW_ID else None
    if isinstance(value, float) and value.is_integer() and 0 < value <= MAX_ROW_ID:
        return int(value)
    return None


def parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "on", "yes")
    return bool(value)


def is_truthy(value: Any) -> bool:
    """JavaScript truthiness, which Gancio's checks use (`''`, 0, null and false are falsy)."""
    return bool(value) if not isinstance(value, list | dict) else True


def _size_of(file: BinaryIO) -> int:
    size = file.seek(0, 2)  # a spooled file: in memory or on local disk, a cheap seek
    file.seek(0)
    return size
