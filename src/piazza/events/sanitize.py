"""Event descriptions: linkify, sanitize (gancio-api.md §5.6), and render as plain text.

Gancio runs linkify, then DOMPurify with an allow-list; here nh3 (ammonia) does the sanitizing with the
same allow-list. Titles and place names are stored as text and are never sanitized (they are escaped
wherever they are rendered).
"""

from __future__ import annotations

import re
import textwrap
from html import escape, unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3

ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "br", "i", "span", "em", "b", "a",
    "li", "ul", "ol", "code", "blockquote", "u", "s", "strong",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "target"}}
URL_SCHEMES = {"http", "https", "mailto", "tel", "geo", "xmpp", "irc", "ircs", "matrix"}
# Elements removed together with their content; any other unknown element keeps its text.
DROPPED_WITH_CONTENT = {"script", "style", "template", "iframe", "object", "embed", "noscript", "textarea"}

# Click identifiers and campaign tags that only serve tracking; Gancio strips fbclid, we strip these.
TRACKING_PARAMETERS = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_eid", "igshid", "yclid", "twclid",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id",
}  # fmt: skip

_URL_IN_TEXT = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")


def remove_tracking_parameters(url: str) -> str:
    """The URL without tracking query parameters; anything unparsable is returned as it was."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in TRACKING_PARAMETERS]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _strip_tracking_in_text(html: str) -> str:
    """Tracking parameters out of URLs written in the (escaped) HTML text, as in link texts."""

    def clean(match: re.Match[str]) -> str:
        url = unescape(match.group(0))
        cleaned = remove_tracking_parameters(url)
        return match.group(0) if cleaned == url else escape(cleaned, quote=False)

    return _URL_IN_TEXT.sub(clean, html)


def linkify(html: str) -> str:
    """Turn bare http(s) URLs in text into links, leaving existing `<a>` elements alone (§5.6 step 1)."""
    out: list[str] = []
    inside_link = 0
    for piece in _TAG_OR_TEXT.split(html):
        if piece.startswith("<"):
            name = piece[1:].lstrip("/").split(None, 1)[0].rstrip(">/").lower() if len(piece) > 2 else ""
            if name == "a":
                inside_link += -1 if piece.startswith("</") else 1
                inside_link = max(inside_link, 0)
            out.append(piece)
        elif inside_link:
            out.append(piece)
        else:
            out.append(_URL_IN_TEXT.sub(_link_for, piece))
    return "".join(out)


def _link_for(match: re.Match[str]) -> str:
    url = match.group(0)
    trailing = ""
    while url and url[-1] in _TRAILING_PUNCTUATION:
        trailing = url[-1] + trailing
        url = url[:-1]
    return f'<a href="{url}" target="_blank">{url}</a>{trailing}'


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if element == "a" and attribute == "href":
        return remove_tracking_parameters(value)
    if element == "a" and attribute == "target":
        return value if value in ("_blank", "_self", "_parent", "_top") else None
    return value


def sanitize_description(html: str | None) -> str:
    """Linkified, allow-listed HTML without tracking parameters; `''` for nothing."""
    if not html:
        return ""
    cleaned = nh3.clean(
        linkify(html),
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=_filter_attribute,
        link_rel=None,
        strip_comments=True,
    )
    # Gancio also drops fbclid from the link text when the text is the URL itself.
    return _strip_tracking_in_text(cleaned).strip()


_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "pre", "table", "tr"}
WRAP_COLUMNS = 80


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.link_href: str | None = None
        self.link_text: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n * ")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            self.link_href = dict(attrs).get("href") or ""
            self.link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.link_href is not None:
            text = "".join(self.link_text).strip()
            href = self.link_href
            self.link_href = None
            if href and href != text:
                self.parts.append(f"{text} [{href}]" if text else href)
            else:
                self.parts.append(text)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.link_href is not None:
            self.link_text.append(data)
        else:
            self.parts.append(data)


def html_to_text(html: str | None) -> str:
    """Plain text for `plain_description`, ICS and mail: links as `text [url]`, lines wrapped at 80."""
    if not html:
        return ""
    renderer = _TextRenderer()
    renderer.feed(html)
    renderer.close()
    text = "".join(renderer.parts)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = []
        for line in block.split("\n"):
            line = re.sub(r"[ \t\r\f\v]+", " ", line).strip()
            if line:
                lines.extend(
                    textwrap.wrap(line, WRAP_COLUMNS, break_long_words=False, break_on_hyphens=False)
                )
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)
