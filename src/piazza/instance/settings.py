"""Instance settings: Gancio's defaults (gancio-api.md §4.11) overridden by rows of `settings`.

Settings are read from the database when needed rather than cached in the process, so a change made on
one app node takes effect at once on every other node.
"""

from __future__ import annotations

import copy
import functools
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from piazza.db.base import utcnow
from piazza.errors import Invalid
from piazza.instance.models import Setting

DEFAULTS: dict[str, Any] = {
    "title": "Piazza",
    "description": "A shared agenda for local communities",
    "instance_timezone": "Europe/Rome",
    "instance_locale": "en",
    "instance_name": "relay",
    "allow_registration": True,
    "allow_anon_event": True,
    "allow_multidate_event": True,
    "allow_recurrent_event": False,
    "allow_event_without_end_time": True,
    "allow_online_event": True,
    "show_download_media": True,
    "enable_moderation": False,
    "enable_report": False,
    "recurrent_event_visible": False,
    "allow_geolocation": False,
    "geocoding_provider_type": "Nominatim",
    "geocoding_provider": "https://nominatim.openstreetmap.org/search",
    "geocoding_countrycodes": [],
    "tilelayer_provider": "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
    "tilelayer_provider_attribution": (
        '<a target="_blank" href="http://osm.org/copyright">OpenStreetMap</a> contributors'
    ),
    "enable_federation": False,  # only the read-only layer exists so far (README); Gancio's default is true
    "enable_resources": False,
    "hide_boosts": True,
    "enable_trusted_instances": True,
    "theme.is_dark": True,
    "dark_colors": {
        "primary": "#FF6E40",
        "error": "#FF5252",
        "info": "#2196F3",
        "success": "#4CAF50",
        "warning": "#FB8C00",
    },
    "light_colors": {
        "primary": "#FF4500",
        "error": "#FF5252",
        "info": "#2196F3",
        "success": "#4CAF50",
        "warning": "#FB8C00",
    },
    "trusted_instances_label": "",
    "hide_thumbs": False,
    "hide_calendar": False,
    "footerLinks": [{"href": "/", "label": "common.home"}, {"href": "/about", "label": "common.about"}],
    "plugins": [],
    "admin_email": "",
    "smtp": {},
    "collection_in_home": None,
    "default_fedi_hashtags": [],
    "custom_js": "",
    "custom_css": "",
}

MAX_KEY_LENGTH = 255


def derived_settings(base_url: str) -> dict[str, Any]:
    """Settings that come from the configuration rather than the table."""
    return {"baseurl": base_url, "hostname": urlsplit(base_url).netloc}


def get_settings(db: Session, base_url: str, *, include_secret: bool = False) -> dict[str, Any]:
    """Every setting: defaults, then stored values (secret ones only when asked for)."""
    settings = copy.deepcopy(DEFAULTS)
    for row in db.execute(select(Setting.key, Setting.value, Setting.is_secret)):
        if include_secret or not row.is_secret:
            settings[row.key] = row.value
    settings.update(derived_settings(base_url))  # the configuration wins: links in mails depend on it
    return settings


def get_settings_of(db: Session, base_url: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The settings `keys` as `get_settings` gives them, and the derived ones, in one statement.

    For hot reads that need a few settings: `get_settings` copies every default on each call.
    """
    settings = read_settings(db, keys)
    settings.update(derived_settings(base_url))
    return settings


def read_settings(db: Session, keys: tuple[str, ...]) -> dict[str, Any]:
    """The stored values of the non-secret settings `keys`, defaults for the rest, in one statement."""
    settings = {key: copy.deepcopy(DEFAULTS.get(key)) for key in keys}
    # (Rows indexed rather than unpacked: mypy types an unpacked Row with an Any column as `object`.)
    settings.update({row[0]: row[1] for row in db.connection().execute(settings_statement(keys))})
    return settings


@functools.lru_cache(maxsize=16)
def settings_statement(keys: tuple[str, ...]) -> Select[str, Any]:
    return select(Setting.key, Setting.value).where(Setting.key.in_(keys), Setting.is_secret.is_(False))


# What the feeds read: the texts and time zone of their documents, and the home collection.
FEED_KEYS = ("title", "description", "instance_timezone", "instance_locale", "collection_in_home")
PUBLIC_KEYS = ("title", "description", "instance_locale", "instance_timezone")


def get_public_settings(db: Session, base_url: str) -> dict[str, Any]:
    """What every visitor's pages need (title, description, locale, time zone, base URL)."""
    settings = get_settings(db, base_url)
    public = {key: settings[key] for key in PUBLIC_KEYS}
    public.update(derived_settings(base_url))
    return public


def get_setting(db: Session, key: str) -> Any:
    """One setting's stored value, or its default (None for unknown keys)."""
    row = db.execute(select(Setting.value).where(Setting.key == key)).first()
    return copy.deepcopy(DEFAULTS.get(key)) if row is None else row.value


def set_setting(db: Session, key: str, value: Any, *, is_secret: bool = False) -> None:
    """Store any JSON value under `key`. Raises Invalid for an empty or overlong key."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Invalid("key required", field="key")
    row = db.get(Setting, key)
    if row is None:
        db.add(Setting(key=key, value=value, is_secret=is_secret))
    else:
        row.value = value
        row.is_secret = is_secret
        row.updated_at = utcnow()
    db.flush()
