"""Rendering pages: the Jinja2 environment, the layout every page shares, and the page loader.

A page route makes one database call: `await load(request, fn, *args)` reads the layout (instance
settings, the logged-in person, footer links) and runs `fn(session, layout, *args)` in the same
transaction, so the route gets both at once. `fn` only calls services; rules stay in the services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from piazza.app_state import app_state
from piazza.events.service import is_web_url
from piazza.instance.pages_service import footer_links
from piazza.instance.settings import get_settings
from piazza.oauth.service import find_logged_in_user
from piazza.web.security import PAGE_HEADERS
from piazza.web.session import csrf_token, session_fingerprint, session_user_id

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

T = TypeVar("T")

# Settings the pages read; never secret ones (get_settings leaves those out anyway).
LAYOUT_SETTINGS = (
    "title",
    "description",
    "instance_timezone",
    "allow_registration",
    "allow_anon_event",
    "allow_recurrent_event",
    "recurrent_event_visible",  # with the two around it, what the home page's listing shows
    "allow_multidate_event",
    "allow_event_without_end_time",
    "collection_in_home",
    "hide_thumbs",
    "enable_moderation",
    "baseurl",
)


@dataclass(frozen=True)
class Visitor:
    """The logged-in person, as the layout needs them."""

    id: int
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_moderator(self) -> bool:
        return self.role in ("admin", "editor")


@dataclass(frozen=True)
class Layout:
    settings: dict[str, Any]
    visitor: Visitor | None
    footer_links: list[dict[str, str]] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(str(self.settings.get("instance_timezone") or "UTC"))
        except (KeyError, ValueError):
            return ZoneInfo("UTC")


def read_layout(db: Session, base_url: str, user_id: int | None, fingerprint: str | None) -> Layout:
    settings = get_settings(db, base_url)
    user = find_logged_in_user(db, user_id, fingerprint)
    visitor = Visitor(user.id, user.email, str(user.role)) if user is not None else None
    return Layout({key: settings.get(key) for key in LAYOUT_SETTINGS}, visitor, footer_links(db))


@overload
async def load(request: Request, fn: None = None, *, write: bool = False) -> tuple[Layout, None]: ...
@overload
async def load(
    request: Request, fn: Callable[..., T], *args: Any, write: bool = False
) -> tuple[Layout, T]: ...
async def load(
    request: Request, fn: Callable[..., T] | None = None, *args: Any, write: bool = False
) -> tuple[Layout, T | None]:
    """The layout and `fn(session, layout, *args)`, in one transaction (a write one when asked)."""
    base_url = app_state(request).config.base_url
    user_id, fingerprint = session_user_id(request), session_fingerprint(request)

    def both(db: Session) -> tuple[Layout, T | None]:
        layout = read_layout(db, base_url, user_id, fingerprint)
        return layout, (fn(db, layout, *args) if fn is not None else None)

    database = app_state(request).db
    return await (database.write(both) if write else database.read(both))


def local_time(timestamp: int | float | None, zone: ZoneInfo) -> datetime | None:
    return datetime.fromtimestamp(timestamp, zone) if timestamp is not None else None


def _local(timestamp: int | float | None, zone: ZoneInfo) -> datetime | None:
    """Jinja filter: `{{ event.start_datetime | local(layout.zone) }}`, a datetime in the instance zone."""
    return local_time(timestamp, zone)


templates.env.filters["local"] = _local


def _is_web_url(value: object) -> bool:
    """Jinja test: `{% if url is web_url %}`; only http(s) URLs become links (stored rows from before
    the rule may hold `javascript:` ones)."""
    return isinstance(value, str) and is_web_url(value)


templates.env.tests["web_url"] = _is_web_url


def render(request: Request, name: str, layout: Layout | None, status: int = 200, **context: Any) -> Response:
    """A page from `templates/`, with the layout, the CSRF token and the security headers."""
    context.setdefault("csrf_token", csrf_token(request))
    context.setdefault("layout", layout)
    context.setdefault("user_id", layout.visitor.id if layout and layout.visitor else None)
    context.setdefault("current_path", request.url.path)
    return templates.TemplateResponse(request, name, context, status_code=status, headers=PAGE_HEADERS)


async def render_page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    """`render` after reading the layout on its own (pages without other data, error pages)."""
    layout, _ = await load(request)
    return render(request, name, layout, status, **context)


async def error_page(
    request: Request, message: str, status: int = 400, return_to: str | None = None
) -> Response:
    """An error page; `return_to` offers an OAuth client's error redirect as a link, never as an
    automatic redirect (RFC 9700 §4.11.2: no open redirector through registered clients)."""
    return_host = None
    if return_to:
        parts = urlsplit(return_to)
        return_host = parts.netloc or f"{parts.scheme}:"
    return await render_page(
        request,
        "error.html",
        status,
        message=message,
        status_code=status,
        return_to=return_to,
        return_host=return_host,
    )
