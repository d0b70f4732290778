"""Request bodies of the instance routes: JSON or URL-encoded form, as Gancio's `/api` accepts (§0.3)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from piazza import json_input
from piazza.db.base import MAX_ROW_ID
from piazza.errors import Invalid, NotFound

MAX_BODY_BYTES = 1_000_000


async def read_body(request: Request) -> dict[str, Any]:
    """The body as a dict; a repeated form key gives a list. Raises Invalid for anything else."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Invalid("body too large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" or content_type == "multipart/form-data":
        form = await request.form()
        body: dict[str, Any] = {}
        for key in form:
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            body[key] = values[0] if len(values) == 1 else values
        return body
    if not raw.strip():
        return {}
    try:
        body = json_input.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid("the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def parse_path_id(value: str) -> int | None:
    """A positive integer id from a path segment; None when it is not one (the route answers 404)."""
    value = value.strip()
    if not value.isdigit() or not value.isascii():
        return None
    number = int(value)
    return number if 0 < number <= MAX_ROW_ID else None


def path_id_or_404(value: str) -> int:
    """`parse_path_id`, or NotFound: a path naming no possible row names no row."""
    found = parse_path_id(value)
    if found is None:
        raise NotFound()
    return found
