"""What the admin pages read and write, each as one function run in one transaction.

Each function is run by `render.load(request, fn, ...)` as `fn(session, layout, ...)`, in the same
transaction that read the layout and the logged-in person from the database, and first checks that
person's role (`staff`), so a role change or a deactivation takes effect on the very next request.
The rules themselves stay in the services the API uses (events.service, accounts.people,
instance.service, instance.images); this module only composes them for the pages and parses their forms.
No FastAPI or Starlette here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from piazza.accounts import people
from piazza.accounts.models import User
from piazza.accounts.service import get_user, list_users_for_admin
from piazza.config import Config
from piazza.errors import Forbidden, Invalid
from piazza.events import queries
from piazza.events import service as events
from piazza.instance import images
from piazza.instance import service as instance
from piazza.instance.collections_service import list_collections
from piazza.moderation.service import recent_reports
from piazza.oauth.scopes import Permission, role_grants
from piazza.web.render import Layout, Visitor

# The instance settings the settings page edits, by kind of input.
TEXT_SETTINGS = ("title", "description", "instance_timezone", "instance_locale", "admin_email")
FLAG_SETTINGS = (
    "allow_registration",
    "allow_anon_event",
    "allow_recurrent_event",
    "allow_multidate_event",
    "recurrent_event_visible",
    "enable_moderation",
    "enable_report",
)
MAX_TEXT_SETTING = 1000


class NotLoggedIn(Exception):
    """No login session, or one that no longer matches an active user: the page sends to /login."""


def staff(layout: Layout, permission: Permission) -> Visitor:
    """The logged-in person when their role grants `permission`. Raises NotLoggedIn, Forbidden."""
    visitor = layout.visitor
    if visitor is None:
        raise NotLoggedIn()
    if not role_grants(visitor.role, permission):
        if permission is Permission.ADMIN:
            raise Forbidden("This page is for the instance's admins.")
        raise Forbidden("This page is for the instance's admins and editors.")
    return visitor


def check_staff(db: Session, layout: Layout, permission: Permission) -> None:
    """Only the role check, for a route that must check it before reading what was sent."""
    staff(layout, permission)


def _actor(user: Visitor) -> events.Actor:
    return events.Actor(user_id=user.id, is_moderator=True)


# --- moderation ---------------------------------------------------------------------------------------


def moderation_view(db: Session, layout: Layout) -> dict[str, Any]:
    """The hidden future events waiting for a moderator, and the latest reports."""
    user = staff(layout, Permission.MODERATE)
    waiting = queries.list_unconfirmed(db, now=int(time.time()))
    author_ids = {event["userId"] for event in waiting if event["userId"] is not None}
    authors = dict(db.execute(select(User.id, User.email).where(User.id.in_(author_ids))).all())
    return {
        "viewer": user,
        "events": waiting,
        "authors": authors,
        "reports": recent_reports(db),
    }


def confirm_event(db: Session, layout: Layout, event_id: int) -> None:
    """Publish the event (and generate the occurrences of a recurrent parent). Raises NotFound."""
    user = staff(layout, Permission.MODERATE)
    events.confirm_event(db, _actor(user), event_id)


def reject_event(db: Session, layout: Layout, event_id: int) -> list[str]:
    """Delete the event; returns its image files to remove once committed. Raises NotFound."""
    user = staff(layout, Permission.MODERATE)
    return events.delete_event(db, _actor(user), event_id)


# --- users ----------------------------------------------------------------------------------------------


def users_view(db: Session, layout: Layout) -> dict[str, Any]:
    user = staff(layout, Permission.ADMIN)
    return {"viewer": user, "users": list_users_for_admin(db)}


def user_view(db: Session, layout: Layout, user_id: int) -> dict[str, Any]:
    """One user, for the delete confirmation. Raises NotFound."""
    viewer = staff(layout, Permission.ADMIN)
    return {"viewer": viewer, "user": get_user(db, user_id)}


def invite_user(db: Session, layout: Layout, config: Config, email: str, role: str) -> User:
    """Create an active user and mail them a link to choose a password. Raises Invalid, Conflict."""
    staff(layout, Permission.ADMIN)
    if not email.strip():
        raise Invalid("email required", field="email")
    return people.invite_user(db, config, email, role=role or None)


def update_user(db: Session, layout: Layout, config: Config, user_id: int, form: dict[str, str]) -> User:
    """Change a user's role or activate/deactivate them (the last-admin rule and the token revocation
    are the service's). Raises NotFound, Invalid."""
    staff(layout, Permission.ADMIN)
    changes: dict[str, Any] = {}
    if "role" in form:
        changes["role"] = form["role"]
    if "is_active" in form:
        if form["is_active"] not in ("true", "false"):
            raise Invalid("is_active must be true or false", field="is_active")
        changes["is_active"] = form["is_active"] == "true"
    if not changes:
        raise Invalid("nothing to change")
    return people.update_user(db, config, user_id, changes)


def delete_user(db: Session, layout: Layout, user_id: int) -> None:
    """Raises NotFound, LastAdmin."""
    staff(layout, Permission.ADMIN)
    people.delete_user(db, user_id)


# --- settings -------------------------------------------------------------------------------------------


def settings_view(db: Session, layout: Layout, base_url: str) -> dict[str, Any]:
    """The settings as an admin sees them (SMTP password masked) and the collections to choose from."""
    user = staff(layout, Permission.ADMIN)
    return {
        "viewer": user,
        "settings": instance.settings_for_admin(db, base_url),
        "collections": [c["name"] for c in list_collections(db, with_filters=False, pinned_only=False)],
    }


def save_settings(db: Session, layout: Layout, form: dict[str, str]) -> None:
    """Store the main settings from the form, all or none. Unchecked boxes are false; an empty
    collection means "none". Raises Invalid (an unknown time zone or collection, an empty title...)."""
    staff(layout, Permission.ADMIN)
    values: dict[str, Any] = {}
    for key in TEXT_SETTINGS:
        value = form.get(key, "").strip()
        if len(value) > MAX_TEXT_SETTING:
            raise Invalid(f"{key} is too long (at most {MAX_TEXT_SETTING} characters)", field=key)
        values[key] = value
    if not values["title"]:
        raise Invalid("The title cannot be empty.", field="title")
    if not values["instance_locale"]:
        raise Invalid("The locale cannot be empty.", field="instance_locale")
    if values["admin_email"] and not people.check_email_syntax(values["admin_email"]):
        raise Invalid("The admin email is not a valid address.", field="admin_email")
    for key in FLAG_SETTINGS:
        values[key] = form.get(key) == "on"
    collection = form.get("collection_in_home", "").strip() or None
    if collection is not None:
        names = {c["name"] for c in list_collections(db, with_filters=False, pinned_only=False)}
        if collection not in names:
            raise Invalid(f"There is no collection named '{collection}'.", field="collection_in_home")
    values["collection_in_home"] = collection
    for key, value in values.items():
        instance.update_setting(db, key, value)  # validates instance_timezone


def smtp_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The smtp object of the form; the password mask posted back keeps the stored password."""
    return {
        "host": form.get("host", ""),
        "port": form.get("port", "").strip() or None,
        "secure": form.get("secure") == "on",
        "auth": {"user": form.get("user", ""), "pass": form.get("pass", "")},
        "from": form.get("from", ""),
    }


def save_smtp(db: Session, layout: Layout, form: dict[str, str], send_test: bool) -> bool:
    """Store the SMTP settings; with `send_test`, also queue a test mail to the admin email.
    Returns whether a test mail was queued. Raises Invalid."""
    staff(layout, Permission.ADMIN)
    smtp = smtp_from_form(form)
    if send_test:
        return instance.save_smtp(db, smtp)
    instance.update_setting(db, "smtp", smtp)
    return False


def save_image(db: Session, layout: Layout, data_dir: Path, field: str, png: bytes | None) -> None:
    """Store an uploaded logo/fallback/header image (already converted to PNG), or reset it (None)."""
    staff(layout, Permission.ADMIN)
    images.save_image(db, data_dir, images.IMAGES[field], png)
