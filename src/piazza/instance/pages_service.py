"""Static pages (the addendum of gancio-api.md): HTML sanitized like event descriptions (§5.6).

A page's slug comes from its title when it is created and never changes, so links to it stay valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from piazza.errors import Conflict, Invalid, NotFound
from piazza.events.sanitize import sanitize_description
from piazza.events.slugs import slugify
from piazza.instance.models import Page

MAX_TITLE_LENGTH = 255
MAX_CONTENT_LENGTH = 200_000
FALLBACK_SLUG = "page"
SLUG_ATTEMPTS = 3


def page_to_wire(page: Page) -> dict[str, Any]:
    return {
        "id": page.id,
        "title": page.title,
        "content": page.content,
        "visible": page.visible,
        "slug": page.slug,
    }


def parse_visible(value: Any) -> bool:
    """A JSON boolean, or a form's `true`/`false`/`1`/`0`/`on`. Raises Invalid."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "on", "false", "0", "off", ""):
        return value.strip().lower() in ("true", "1", "on")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Invalid("visible must be a boolean", field="visible")


def validate_title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("title required", field="title")
    title = value.strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise Invalid(f"title is at most {MAX_TITLE_LENGTH} characters", field="title")
    return title


def sanitize_content(value: Any, field: str) -> str:
    """Allow-listed HTML (§5.6). Raises Invalid for a non-string or an oversized one."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", field=field)
    if len(value) > MAX_CONTENT_LENGTH:
        raise Invalid(f"{field} is at most {MAX_CONTENT_LENGTH} characters", field=field)
    return sanitize_description(value)


def _unique_slug(db: Session, title: str) -> str:
    base = slugify(title) or FALLBACK_SLUG
    prefix = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    taken = set(
        db.scalars(select(Page.slug).where(or_(Page.slug == base, Page.slug.like(prefix + "-%", "\\"))))
    )
    if base not in taken:
        return base
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def list_pages(db: Session, *, include_hidden: bool) -> list[dict[str, Any]]:
    """Pages by id; hidden ones only when asked (admins)."""
    stmt = select(Page).order_by(Page.id)
    if not include_hidden:
        stmt = stmt.where(Page.visible.is_(True))
    return [page_to_wire(page) for page in db.scalars(stmt)]


def create_page(db: Session, body: Mapping[str, Any]) -> dict[str, Any]:
    """Raises Invalid (`title required`, ...)."""
    title = validate_title(body.get("title"))
    content = sanitize_content(body.get("content"), "content")
    visible = parse_visible(body["visible"]) if "visible" in body else True
    for _attempt in range(SLUG_ATTEMPTS):
        page = Page(title=title, slug=_unique_slug(db, title), content=content, visible=visible)
        try:
            # Another admin may take the same slug between our look-up and insert (PostgreSQL).
            with db.begin_nested():
                db.add(page)
            return page_to_wire(page)
        except IntegrityError:
            continue
    raise Conflict("could not choose a free slug, please retry")


def get_page(db: Session, slug: str, *, include_hidden: bool) -> dict[str, Any]:
    """A page by slug; hidden pages only for admins. Raises NotFound."""
    page = db.scalar(select(Page).where(Page.slug == slug))
    if page is None or not (page.visible or include_hidden):
        raise NotFound()
    return page_to_wire(page)


def visible_page(db: Session, slug: str) -> dict[str, Any]:
    """The page shown at /p/{slug}. Raises NotFound for unknown and hidden pages."""
    return get_page(db, slug, include_hidden=False)


def footer_links(db: Session) -> list[dict[str, str]]:
    """`{href, label}` of every visible page, for the footer of the web pages."""
    rows = db.execute(select(Page.slug, Page.title).where(Page.visible.is_(True)).order_by(Page.id))
    return [{"href": f"/p/{slug}", "label": title} for slug, title in rows]


def update_page(db: Session, page_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """Change the given fields; the slug stays. Raises NotFound, Invalid."""
    page = db.get(Page, page_id)
    if page is None:
        raise NotFound()
    if "title" in body:
        page.title = validate_title(body["title"])
    if "content" in body:
        page.content = sanitize_content(body["content"], "content")
    if "visible" in body:
        page.visible = parse_visible(body["visible"])
    db.flush()
    return page_to_wire(page)


def delete_page(db: Session, page_id: int) -> None:
    """Raises NotFound."""
    page = db.get(Page, page_id)
    if page is None:
        raise NotFound()
    db.delete(page)
    db.flush()
