"""Slugs from titles, close to sluglife's algorithm as Gancio uses it (gancio-api.md §5.8)."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from piazza.events.models import Event

MAX_SLUG_BASE = 200
# What an all-digit slug gets in front of it: `/event/4` and `/api/event/detail/4` always mean the
# event with id 4, so no slug may look like an id (an event titled "4" took over event 4's URLs).
DIGIT_SLUG_PREFIX = "event-"


def _table(letters: str, latin: str) -> dict[str, str]:
    return dict(zip(letters, latin.split(" "), strict=True))


_MULTI = [("<3", " love "), ("&&", " and "), ("||", " or "), ("w/", " with ")]
_SYMBOLS = {
    "&": " and ", "$": " dollar ", "€": " euro ", "£": " pound ", "¥": " yen ", "%": " percent ",
    "<": " less ", ">": " greater ", "|": " or ", "♥": " love ", "©": " (c) ", "®": " (r) ",
    "™": " tm ", "∞": " infinity ", "+": " plus ", "=": " equals ", "@": " at ",
}  # fmt: skip
# Letters that Unicode decomposition does not reduce to ASCII.
_LETTERS = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D",
    "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i", "ħ": "h", "ŋ": "ng",
}  # fmt: skip
_CYRILLIC = _table(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяєіїґ",
    "a b v g d e yo zh z i j k l m n o p r s t u f h c ch sh sh - y - e yu ya ye i yi g",
)
_GREEK = _table(
    "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώςϊϋΐΰ",
    "a b g d e z i th i k l m n x o p r s t y f ch ps o a e i i o y o s i y i y",
)
# What _transliterate does to ASCII text, as one str.translate table (the common case, in C).
_ASCII_SYMBOLS = str.maketrans({symbol: name for symbol, name in _SYMBOLS.items() if symbol.isascii()})
_SYMBOL_NAME_NOISE = {"sign", "cross", "of", "symbol", "staff", "hand", "black", "white"}


def _transliterate(char: str) -> str:
    if char in _SYMBOLS:
        return _SYMBOLS[char]
    if char in _LETTERS:
        return _LETTERS[char]
    lower = char.lower()
    for table in (_CYRILLIC, _GREEK):
        if lower in table:
            value = table[lower].replace("-", "")
            return value.upper() if char != lower else value
    if ord(char) < 128:
        return char
    decomposed = unicodedata.normalize("NFKD", char)
    ascii_part = "".join(c for c in decomposed if not unicodedata.combining(c) and ord(c) < 128)
    if ascii_part:
        return ascii_part
    if unicodedata.category(char) == "So":
        words = [w for w in unicodedata.name(char, "").lower().split() if w not in _SYMBOL_NAME_NOISE]
        return f" {' '.join(words)} "
    return char  # other letters (CJK, ...) stay; \w keeps them


def slugify(title: str) -> str:
    text = title
    for source, replacement in _MULTI:
        text = text.replace(source, replacement)
    text = text.translate(_ASCII_SYMBOLS) if text.isascii() else "".join(_transliterate(c) for c in text)
    text = text.replace(".", "")
    text = re.sub(r"[^\w\s\-._~]", "", text)
    text = re.sub(r"[\s\-]+", "-", text).strip("-")
    return text.lower()[:MAX_SLUG_BASE].strip("-")


# Candidates probed per query, at first and at most: a new title takes one query; a title used a
# thousand times takes a handful, each of them exact lookups in the slug's unique index.
_FIRST_PROBE = 8
_MAX_PROBE = 512
# On the connection: a plain Core execution, without the ORM session's per-statement machinery.
_TAKEN = select(Event.slug).where(Event.slug.in_(bindparam("candidates", expanding=True)))
# The usual case, a title not used before, in one plain lookup: an expanding IN costs SQLAlchemy a
# rewrite of the statement on every execution, twice the time of the lookup itself.
_BASE_TAKEN = select(Event.id).where(Event.slug == bindparam("slug")).limit(1)


def unique_slug(db: Session, title: str) -> str | None:
    """The slug for a new event: free, or with the first free `-N` appended; None if empty.

    An all-digit slug gets DIGIT_SLUG_PREFIX (`4` becomes `event-4`), so that it is never an id.

    Looks up `base`, `base-1`, `base-2`, ... by equality rather than with `LIKE 'base-%'`, which
    SQLite cannot serve from the index (its LIKE ignores ASCII case, the index does not) and
    PostgreSQL only in the C collation: that scan of every event made each write slower as the
    table grew.
    """
    base = slugify(title)
    if not base:
        return None
    if base.isdigit():  # any script's digits: an id lookup must never be confused with a slug
        base = DIGIT_SLUG_PREFIX + base
    if db.connection().scalar(_BASE_TAKEN, {"slug": base}) is None:
        return base
    first, size = 1, _FIRST_PROBE
    while True:
        candidates = [f"{base}-{n}" for n in range(first, first + size)]
        taken = set(db.connection().scalars(_TAKEN, {"candidates": candidates}))
        for candidate in candidates:
            if candidate not in taken:
                return candidate
        first, size = first + size, min(size * 2, _MAX_PROBE)
