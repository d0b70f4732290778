"""The settings API's rules (gancio-api.md §2.9): what an admin sees, what they may store, and the SMTP
object whose password is a secret. Values are read from the database every time (instance/settings.py),
so a change made through one app node is seen at once by every other."""

from __future__ import annotations

import copy
import zoneinfo
from typing import Any

from sqlalchemy.orm import Session

from piazza.errors import Invalid
from piazza.instance.settings import DEFAULTS, derived_settings, get_setting, get_settings, set_setting
from piazza.mail import enqueue
from piazza.mail import messages as mails

SECRET_MASK = "********"  # noqa: S105  (what is shown in place of a stored password)
READ_ONLY_KEYS = frozenset(derived_settings("http://x").keys())  # baseurl, hostname: from PIAZZA_BASE_URL


def mask_smtp(smtp: Any) -> Any:
    """The smtp object with its password replaced by the mask (Gancio shows it in clear, §2.9)."""
    if not isinstance(smtp, dict):
        return smtp
    masked = copy.deepcopy(smtp)
    auth = masked.get("auth")
    if isinstance(auth, dict) and auth.get("pass"):
        auth["pass"] = SECRET_MASK
    return masked


def settings_for_admin(db: Session, base_url: str) -> dict[str, Any]:
    """Every setting with the defaults merged; secret settings left out, the SMTP password masked."""
    settings = get_settings(db, base_url)
    settings["smtp"] = mask_smtp(settings.get("smtp"))
    return settings


def get_setting_for_admin(db: Session, base_url: str, key: str) -> Any:
    """One setting as an admin sees it. Raises Invalid for a key that is neither stored nor a default."""
    settings = settings_for_admin(db, base_url)
    if key not in settings:
        raise Invalid(f"unknown setting '{key}'", field="key")
    return settings[key]


def smtp_for_admin(db: Session) -> Any:
    return mask_smtp(get_setting(db, "smtp"))


def validate_smtp(db: Session, smtp: Any) -> dict[str, Any]:
    """Check an smtp object and keep the stored password where the mask was posted back.

    Raises Invalid for a value that is not an object or a key of the wrong type.
    """
    if not isinstance(smtp, dict):
        raise Invalid("smtp must be an object", field="smtp")
    clean: dict[str, Any] = {}
    for key in ("host", "from"):
        value = smtp.get(key)
        if value is not None and not isinstance(value, str):
            raise Invalid(f"smtp.{key} must be a string", field="smtp")
        if value is not None:
            clean[key] = value.strip()
    port = smtp.get("port")
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if port not in (None, "") and (
        isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535
    ):
        raise Invalid("smtp.port must be a number from 1 to 65535", field="smtp")
    if isinstance(port, int):
        clean["port"] = port
    secure = smtp.get("secure")
    if secure is not None and not isinstance(secure, bool):
        raise Invalid("smtp.secure must be true or false", field="smtp")
    if secure is not None:
        clean["secure"] = secure
    auth = smtp.get("auth")
    if auth is not None:
        if not isinstance(auth, dict) or any(
            v is not None and not isinstance(v, str) for v in (auth.get("user"), auth.get("pass"))
        ):
            raise Invalid("smtp.auth must be an object with user and pass strings", field="smtp")
        password = auth.get("pass")
        if password == SECRET_MASK:
            stored = get_setting(db, "smtp")
            stored_auth = stored.get("auth") if isinstance(stored, dict) else None
            password = stored_auth.get("pass") if isinstance(stored_auth, dict) else None
        clean["auth"] = {"user": auth.get("user") or "", "pass": password or ""}
    return clean


def validate_timezone(value: Any) -> None:
    """Raises Invalid unless `value` is an IANA zone this system knows: recurrence, the feeds and the
    pages convert times with it, and an unknown one would break them all."""
    if not isinstance(value, str) or value not in zoneinfo.available_timezones():
        raise Invalid(
            f"unknown time zone '{value}': use an IANA name such as Europe/Rome", field="instance_timezone"
        )


def update_setting(db: Session, key: Any, value: Any, *, is_secret: bool = False) -> None:
    """Store any JSON value under `key`. Raises Invalid for a missing key or a read-only one."""
    if not isinstance(key, str) or not key.strip():
        raise Invalid("key required", field="key")
    if key in READ_ONLY_KEYS:
        raise Invalid(f"{key} comes from PIAZZA_BASE_URL and cannot be changed here", field="key")
    if key == "smtp":
        value = validate_smtp(db, value)
    if key == "instance_timezone":
        validate_timezone(value)
    set_setting(db, key, value, is_secret=is_secret)


def save_smtp(db: Session, smtp: Any) -> bool:
    """Store the smtp object, then queue a test mail to admin_email (when there is one; True if so).

    Raises Invalid.
    """
    set_setting(db, "smtp", validate_smtp(db, smtp))
    admin_email = get_setting(db, "admin_email")
    if not isinstance(admin_email, str) or not admin_email.strip():
        return False
    title = get_setting(db, "title") or DEFAULTS["title"]
    enqueue(db, mails.smtp_test(admin_email.strip(), str(title)))
    return True
