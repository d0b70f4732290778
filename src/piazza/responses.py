"""Piazza's JSON response: Starlette's, encoded with orjson.

The bytes are the same as Starlette's `JSONResponse` (compact separators, UTF-8 rather than `\\u`
escapes), but orjson encodes a page of fifty events in a tenth of the time; on `GET /api/events` the
standard library's encoder was a tenth of each request's CPU.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse

__all__ = ["JSONResponse"]


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        # OPT_NON_STR_KEYS: integer keys become strings, as the standard library's encoder does.
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
