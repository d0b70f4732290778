"""Reading a request body the way Gancio's `/api` does: JSON or URL-encoded (multipart too), into a dict.

Bad bodies become 400s here, so routes and services only ever see a dict.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from piazza import json_input
from piazza.errors import Invalid

MAX_BODY_BYTES = 1024 * 1024


async def read_body(request: Request) -> dict[str, Any]:
    """The body as a dict; a repeated form key becomes a list. Raises Invalid."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0)
        return {key: (values[0] if len(values) == 1 else values) for key, values in _multi(form).items()}
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Invalid("request body too large")
    if not raw.strip():
        return {}
    try:
        body = json_input.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("invalid JSON body") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _multi(form: Any) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for key, value in form.multi_items():
        values.setdefault(key, []).append(value)
    return values


def optional_str(body: dict[str, Any], key: str, *, max_length: int = 255) -> str | None:
    """A string field or None. Raises Invalid for another type or an overlong value."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string", field=key)
    if len(value) > max_length:
        raise Invalid(f"{key} is too long (at most {max_length} characters)", field=key)
    return value


def required_str(body: dict[str, Any], key: str, *, max_length: int = 255) -> str:
    """A non-empty string field. Raises Invalid (`<key> required`)."""
    value = optional_str(body, key, max_length=max_length)
    if value is None or not value.strip():
        raise Invalid(f"{key} required", field=key)
    return value


def optional_bool(body: dict[str, Any], key: str) -> bool | None:
    """A boolean field (JSON true/false, or the strings of a form). Raises Invalid."""
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise Invalid(f"{key} must be true or false", field=key)
