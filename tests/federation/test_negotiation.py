from __future__ import annotations

import pytest

from piazza.federation.negotiation import prefers_html, wants_activity_json

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
MASTODON = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
LD_PROFILE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


@pytest.mark.parametrize(
    ("accept", "ap"),
    [
        (BROWSER, False),
        ("*/*", False),
        (None, False),
        ("", False),
        ("application/json", False),
        ("application/activity+json", True),
        (LD_PROFILE, True),
        (MASTODON + ", text/html;q=0.1", True),
        ("text/html, application/activity+json;q=0.5", False),
        ("application/activity+json;q=0", False),
        ("application/activity+json;q=nonsense", False),
    ],
)
def test_pages_negotiation(accept: str | None, ap: bool) -> None:
    assert wants_activity_json(accept) is ap


@pytest.mark.parametrize(
    ("accept", "html"),
    [(BROWSER, True), (None, False), ("*/*", False), (MASTODON, False), ("application/json", False)],
)
def test_documents_negotiation(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html
