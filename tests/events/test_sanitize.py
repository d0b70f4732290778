"""Description sanitizing (gancio-api.md §5.6) and the plain-text rendering for plain_description."""

from __future__ import annotations

import pytest

from piazza.events.sanitize import html_to_text, sanitize_description


def test_gancios_own_example():
    html = (
        '<p wrong-attr="" onclick="alert(\'test\');">inside paragraph</p>'
        '<a href="https://test.com/?query=true&fbclid=facebook_id">link with fb reference</a>'
    )
    expected = '<p>inside paragraph</p><a href="https://test.com/?query=true">link with fb reference</a>'
    assert sanitize_description(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<script>alert(1)</script><p>x</p>", "<p>x</p>"),
        ("<style>p{}</style>text", "text"),
        ('<img src="x" onerror="alert(1)">after', "after"),
        ("<div><section>kept text</section></div>", "kept text"),
        ('<a href="javascript:alert(1)">click</a>', "<a>click</a>"),
        ('<p style="color:red" class="c">x</p>', "<p>x</p>"),
        (
            '<a href="https://e.org" target="_blank" rel="x">e</a>',
            '<a href="https://e.org" target="_blank">e</a>',
        ),
        (
            "<h2>T</h2><ul><li>a</li></ul><blockquote>q</blockquote>",
            "<h2>T</h2><ul><li>a</li></ul><blockquote>q</blockquote>",
        ),
        ("a & b", "a &amp; b"),
        ("", ""),
        (None, ""),
    ],
)
def test_only_the_allowed_tags_and_attributes_survive(html, expected):
    assert sanitize_description(html) == expected


def test_bare_urls_become_links_but_existing_links_are_untouched():
    html = '<p>see https://example.org/page. or <a href="https://a.org">https://b.org</a></p>'
    assert sanitize_description(html) == (
        '<p>see <a href="https://example.org/page" target="_blank">https://example.org/page</a>. '
        'or <a href="https://a.org">https://b.org</a></p>'
    )


def test_tracking_parameters_are_removed_from_links_and_their_text():
    html = "https://shop.example/item?id=3&utm_source=news&fbclid=abc"
    assert sanitize_description(html) == (
        '<a href="https://shop.example/item?id=3" target="_blank">https://shop.example/item?id=3</a>'
    )


def test_plain_text_renders_links_paragraphs_and_lists():
    html = (
        '<p>Hello <b>world</b></p><p>Visit <a href="https://e.org">our site</a></p>'
        "<ul><li>one</li><li>two</li></ul>"
    )
    assert html_to_text(html) == "Hello world\n\nVisit our site [https://e.org]\n\n* one\n* two"


def test_plain_text_wraps_at_80_columns_and_unescapes():
    text = html_to_text("<p>" + " ".join(["word"] * 40) + " &amp; more</p>")
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.endswith("& more")
