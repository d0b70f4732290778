"""JSON text from requests, parsed with a nesting bound: the one parser for bodies and form fields.

The request-limits middleware bounds the nesting of bodies sent as `application/json`, but JSON also
arrives where it does not look: in form fields (`recurrent`, `redirect_uris`) and in bodies sent with
another content type, which several routes read as JSON anyway. `json.loads` of `[[[[...` there raised
RecursionError, a 500 for anyone. `loads` answers ValueError (as for any malformed JSON, so callers
keep their one `except ValueError`) for text nested deeper than MAX_DEPTH.
"""

from __future__ import annotations

import json
import re
from typing import Any

# As deep as the middleware allows a JSON body (limits/requests.py RequestLimits.max_json_depth).
MAX_DEPTH = 32


class TooDeep(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing (with TooDeep, a ValueError) values nested deeper than `max_depth`.

    Linear in the text: parsed first (so the text is valid JSON, and the string pattern below matches
    each string once, from its opening quote: no backtracking over unclosed ones), then its brackets
    are counted at C speed, and only a text with more than `max_depth` of them is measured, one nesting
    level per pass of the pair pattern.
    """
    try:
        value = json.loads(text)
    except RecursionError:  # the C parser's own bound, far deeper than ours
        raise TooDeep(max_depth) from None
    if isinstance(text, bytes):
        brackets = text.count(b"[") + text.count(b"{")
    else:
        brackets = text.count("[") + text.count("{")
    if brackets > max_depth and _deeper_than(text, max_depth):
        raise TooDeep(max_depth)
    return value


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_PAIR = re.compile(r"\[\]|\{\}")


def _deeper_than(text: str | bytes, max_depth: int) -> bool:
    """Whether valid JSON `text` nests deeper than `max_depth`: strings out, then everything but
    brackets, then each pass removes the innermost pairs, one level at a time."""
    source = text.decode(json.detect_encoding(text), "replace") if isinstance(text, bytes) else text
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", source))
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _PAIR.sub("", brackets)
    return bool(brackets)
