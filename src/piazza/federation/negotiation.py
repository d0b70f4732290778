"""Which representation a client asked for: ActivityPub JSON or an HTML page (gancio-federation.md §1.2)."""

from __future__ import annotations

AP_TYPES = frozenset({"application/activity+json", "application/ld+json"})
ACTIVITY_JSON = "application/activity+json; charset=utf-8"


def _qualities(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality))
    return ranges


def _best(accept: str) -> tuple[float, float]:
    """The best quality given to an ActivityPub type (any profile) and to `text/html` explicitly."""
    ap = html = 0.0
    for media, quality in _qualities(accept):
        if media in AP_TYPES:
            ap = max(ap, quality)
        elif media == "text/html":
            html = max(html, quality)
    return ap, html


def wants_activity_json(accept: str | None) -> bool:
    """For a page (`/event/<slug>`): true only when an ActivityPub type is asked for at least as much
    as HTML. Browsers never name those types, so `*/*` and no header get the page."""
    if not accept:
        return False
    ap, html = _best(accept)
    return ap > 0 and ap >= html


def prefers_html(accept: str | None) -> bool:
    """For an ActivityPub document (`/federation/...`): true only when HTML is asked for more than
    every ActivityPub type, so fetchers sending no header or `*/*` get JSON."""
    if not accept:
        return False
    ap, html = _best(accept)
    return html > ap
