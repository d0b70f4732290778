"""JSON text from requests, parsed with a nesting bound: the one parser for bodies and form fields.

The request-limits middleware bounds the nesting of bodies sent as `application/json`, but JSON also
arrives where it does not look: in form fields (`recurrent`, `redirect_uris`) and in bodies sent with
another content type, which several routes read as JSON anyway. `json.loads` of `[[[[...` there raised
RecursionError, a 500 for anyone. `loads` answers ValueError (as for any malformed JSON, so callers
keep their one `except ValueError`) for text nested deeper than MAX_DEPTH.
"""

from __future__ import annotations

import json
from typing import Any

# As deep as the middleware allows a JSON body (limits/requests.py RequestLimits.max_json_depth).
MAX_DEPTH = 32


class TooDeep(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing (with TooDeep, a ValueError) values nested deeper than `max_depth`.

    Linear in the text: parsed first, then measured by `check_json_depth`, the check the request-limits
    middleware runs on JSON bodies.
    """
    try:
        value = json.loads(text)
    except RecursionError:  # the C parser's own bound, far deeper than ours
        raise TooDeep(max_depth) from None
    if not check_json_depth(_utf8(text), max_depth):
        raise TooDeep(max_depth)
    return value


def _utf8(text: str | bytes) -> bytes:
    """The text as UTF-8 bytes, where the depth check finds quotes, backslashes and brackets as bytes
    (json.loads also reads UTF-16 and UTF-32 bodies)."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    encoding = json.detect_encoding(text)
    return text if encoding == "utf-8" else text.decode(encoding).encode("utf-8", "surrogatepass")


# For the depth check: every opening bracket becomes `(`, every closing one `)`, all else is deleted.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# Below this many bytes of brackets, the depth is walked directly rather than thinned first.
_SMALL_BRACKETS = 4096


def check_json_depth(body: bytes, max_depth: int) -> bool:
    """True when the JSON text nests arrays and objects at most `max_depth` deep.

    Linear in the body (the backtracking regular expression this replaces took hours on a crafted 1 MiB
    body): whole-buffer operations (count, replace, split, translate) and one walk over at most one item
    per 32 bytes of brackets, so no body holds the event loop longer than parsing it would.

    Brackets inside strings do not count; a string that is never closed is not a string (what follows
    it counts). A closing bracket ends the innermost open one whatever
    its kind, and one with nothing open is ignored: malformed bodies are left for the JSON parser to
    reject, but one the parser would recurse into deeper than `max_depth` before failing is refused.
    For valid JSON this is exactly "nests at most `max_depth` deep".
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return True  # not enough brackets to be too deep, inside strings or not
    text = body
    if b"\\" in text:
        # A backslash takes the next byte with it: an escaped backslash, then an escaped quote, go first.
        # (Outside strings a backslash is invalid JSON, where the parser stops anyway.)
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    if b'"' in text:
        parts = text.split(b'"')
        outside = parts[0::2]  # strings are the odd parts
        if len(parts) % 2 == 0:
            outside.append(parts[-1])  # an odd number of quotes: the last string never ends
        text = b"".join(outside)
    return not _nests_deeper_than(text.translate(_BRACKETS, _NOT_BRACKETS), max_depth)


def _nests_deeper_than(brackets: bytes, max_depth: int) -> bool:
    """Whether a string of `(` and `)` nests deeper than `max_depth`; a `)` with nothing open is ignored.

    Nesting only grows at a `(`, so it peaks where a `(` meets a `)`: the walk below takes each stretch
    `((..))` between two valleys `)(` at once. There is an innermost pair `()` between any two valleys,
    so when valleys are many (over one per 32 bytes), deleting every `()` (one whole-buffer replace)
    shrinks the string by over a sixteenth; it lowers every peak by exactly one and leaves the brackets
    still open at the end as they were. That is repeated, at most `max_depth` times, until the walk is
    short. (Deleting pairs can hide how deep a malformed text with brackets left open went; adding the
    levels deleted to those left open then over-counts, refusing a body the JSON parser refuses too.)
    """
    if brackets.count(b"(") <= max_depth:
        return False
    if b"(" * (max_depth + 1) in brackets:
        return True
    levels_deleted = 0
    while len(brackets) > _SMALL_BRACKETS and brackets.count(b")(") * 32 > len(brackets):
        if levels_deleted == max_depth:
            return True  # pairs are left after deleting max_depth levels: they nest deeper
        brackets = brackets.replace(b"()", b"")
        levels_deleted += 1
    deepest = depth = 0
    stretches = brackets.split(b")(")
    last = len(stretches) - 1
    for index, stretch in enumerate(stretches):
        opens = stretch.find(b")")
        if opens < 0:
            opens = len(stretch)
        closes = len(stretch) - opens
        opens += index > 0  # the `(` of the valley before this stretch
        closes += index < last  # the `)` of the valley after it
        deepest = max(deepest, depth + opens)
        depth = max(0, depth + opens - closes)
    return levels_deleted + deepest > max_depth
