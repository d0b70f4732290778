"""`piazza import-gancio`: a whole Gancio instance into Piazza's database (gancio-import.md §11).

Everything is written in one transaction on the target: a failure anywhere (a row the target refuses, a
file that cannot be copied) rolls all of it back, and files copied so far are removed again. A dry run
does the same work and rolls back at the end, copying no file. Ids are kept, so `/event/<id>`,
`/federation/m/<id>` and `/place/<id>` keep naming the same things, and created_at comes from Gancio,
so that two imports with `--force` give the same rows.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from piazza.accounts.models import Role, User
from piazza.accounts.service import normalise_email
from piazza.config import Config
from piazza.db import Database
from piazza.db.base import Base, utcnow
from piazza.db.versions import DataVersion
from piazza.durable import replace_file
from piazza.errors import Conflict, Invalid
from piazza.events.images import THUMB_FOLDER, process_image
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.events.recurrence import validate_rule
from piazza.events.sanitize import sanitize_description
from piazza.federation.models import Actor, Instance, InstanceKey, Resource
from piazza.importer.report import ImportReport, NoProgress, Progress
from piazza.importer.source import (
    GancioSource,
    as_bool,
    as_datetime,
    as_float,
    as_int,
    as_json,
    as_text,
)
from piazza.instance.images import IMAGES, images_dir, to_png
from piazza.instance.models import Announcement, Collection, Filter, Page, Setting
from piazza.limits.models import RateLimitCounter
from piazza.moderation.models import MessageAuthor, ModerationMessage
from piazza.oauth.models import SELF_CLIENT_ID, Client, Consent, Token
from piazza.oauth.service import RegistrationError, parse_redirect_uris
from piazza.oauth.tokens import digest

WRITE_BATCH = 5000
MAX_STRING = 255
THIRD_PARTY_SCOPE = "event:write"

# Settings carried as they are (gancio-import.md §4.1); any other key is carried too and reported.
DROPPED_SETTINGS = {
    "plugins": "Piazza has no plugins",
    "enable_trusted_instances": "a switch Gancio removed in 1.23",
    "baseurl": "the base URL is PIAZZA_BASE_URL",
    "hostname": "derived from PIAZZA_BASE_URL",
}
KNOWN_SETTINGS = {
    "title", "description", "instance_timezone", "instance_locale", "instance_name", "allow_registration",
    "allow_anon_event", "allow_multidate_event", "allow_recurrent_event", "allow_event_without_end_time",
    "allow_online_event", "allow_geolocation", "enable_moderation", "enable_report", "enable_federation",
    "enable_resources", "recurrent_event_visible", "show_download_media", "hide_thumbs", "hide_calendar",
    "hide_boosts", "theme.is_dark", "dark_colors", "light_colors", "footerLinks", "collection_in_home",
    "default_fedi_hashtags", "geocoding_provider_type", "geocoding_provider", "geocoding_countrycodes",
    "tilelayer_provider", "tilelayer_provider_attribution", "admin_email", "federated_events_in_home",
    "calendar_first_day_of_week", "trusted_sources_label", "trusted_instances_label", "smtp", "about",
    "custom_css", "custom_js", "publicKey", "privateKey", "logo", "fallback_image", "header_image",
}  # fmt: skip
# Tables `--force` keeps: request counters are not the instance's data.
# Rate-limit counters, and the data version, which must only grow: a version number used again could
# match an answer the answer cache kept from before the import.
KEPT_TABLES = {RateLimitCounter.__tablename__, DataVersion.__tablename__}
# Tables whose integer ids are given explicitly, so PostgreSQL's sequences must move past them.
SEQUENCED = (
    User, Place, Event, Collection, Filter, Announcement, Page, ModerationMessage, Resource, Token, Consent,
)  # fmt: skip


class TargetNotEmpty(Conflict):
    """The Piazza database already holds users or events."""


class _DryRunDone(Exception):
    """Raised at the end of a dry run so that the transaction rolls back."""


@dataclass(frozen=True)
class ImportOptions:
    media_dir: Path  # Gancio's uploads folder
    dry_run: bool = False
    force: bool = False
    gancio_base_url: str | None = None  # from Gancio's config.json, when found


def read_gancio_config(path: Path) -> dict[str, Any]:
    """Gancio's config.json (only `baseurl` is used). Raises Invalid when it is not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Invalid(f"{path}: cannot read Gancio's config.json ({exc})") from None
    if not isinstance(data, dict):
        raise Invalid(f"{path}: not a Gancio config.json")
    return data


def base_url_warning(piazza_base_url: str, gancio_base_url: str | None) -> str | None:
    if gancio_base_url is None:
        return (
            "Gancio's config.json was not found, so its base URL could not be compared with "
            f"PIAZZA_BASE_URL ({piazza_base_url}). They must be equal, or links and fediverse ids change."
        )
    if piazza_base_url.rstrip("/") != gancio_base_url.rstrip("/"):
        return (
            f"PIAZZA_BASE_URL is {piazza_base_url} but Gancio ran at {gancio_base_url.rstrip('/')}: links "
            "to events, images and feeds, and the instance's fediverse actor, would change, so followers "
            "stop receiving events. Set PIAZZA_BASE_URL to Gancio's base URL and serve Piazza there "
            "(or accept that every follower must follow the new address)."
        )
    return None


def import_gancio(
    source: GancioSource,
    database: Database,
    config: Config,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the whole source into the configured database. Raises TargetNotEmpty (unless `force`),
    Invalid for a source it cannot read; on any error nothing is left written."""
    report = ImportReport(dry_run=options.dry_run)
    warning = base_url_warning(config.base_url, options.gancio_base_url)
    if warning:
        report.warnings.append(warning)
    files = _FileWriter(dry_run=options.dry_run)
    try:
        with database.session() as db:
            _check_target(db, options.force)
            if options.force:
                _clear_target(db)
            _Importer(source, db, config, options, report, files, progress or NoProgress()).run()
            db.flush()
            _move_sequences(db)
            if options.dry_run:
                raise _DryRunDone
    except _DryRunDone:
        pass
    except BaseException:
        files.undo()
        raise
    return report


def _check_target(db: Session, force: bool) -> None:
    if force:
        return
    users = db.scalar(select(func.count()).select_from(User)) or 0
    events = db.scalar(select(func.count()).select_from(Event)) or 0
    if users or events:
        raise TargetNotEmpty(
            f"the Piazza database already holds {users} users and {events} events; "
            "import into an empty database, or pass --force to replace everything in it"
        )


def _clear_target(db: Session) -> None:
    """Everything but the seeded `self` client and the rate-limit counters, children first."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in KEPT_TABLES:
            continue
        if table.name == Client.__tablename__:
            db.execute(delete(table).where(table.c.id != SELF_CLIENT_ID))
        else:
            db.execute(delete(table))


def _move_sequences(db: Session) -> None:
    """PostgreSQL: the next id after the largest imported one (SQLite needs nothing: no AUTOINCREMENT)."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for model in SEQUENCED:
        name = model.__tablename__
        db.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608  (our table names)
                f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
            )
        )


class _FileWriter:
    """Writes files for the import and can take them back: new files are removed, replaced ones
    restored. In a dry run nothing is written."""

    def __init__(self, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self._undo: list[tuple[Path, bytes | None]] = []

    def write(self, path: Path, data: bytes) -> None:
        if self.dry_run:
            return
        previous = path.read_bytes() if path.is_file() else None
        if previous == data:
            return
        replace_file(path, data, prefix=".import-")
        self._undo.append((path, previous))

    def undo(self) -> None:
        for path, previous in reversed(self._undo):
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(previous)
        self._undo.clear()


def _safe_file_name(name: Any) -> str | None:
    """A media file name as Gancio stores it, or None for anything that could leave the folder."""
    if not isinstance(name, str) or not name or len(name) > MAX_STRING:
        return None
    if "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        return None
    return name


def _batches(rows: Iterable[dict[str, Any]], size: int = WRITE_BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _string_list(value: Any) -> list[str]:
    """A JSON array of strings, de-duplicated in order; anything else is an empty list."""
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(item for item in value if isinstance(item, str)))


def _created(row: dict[str, Any]) -> datetime:
    try:
        return as_datetime(row.get("createdAt")) or utcnow()
    except ValueError:
        return utcnow()


def _updated(row: dict[str, Any]) -> datetime:
    try:
        return as_datetime(row.get("updatedAt")) or _created(row)
    except ValueError:
        return _created(row)


@dataclass
class _Importer:
    source: GancioSource
    db: Session
    config: Config
    options: ImportOptions
    report: ImportReport
    files: _FileWriter
    progress: Progress
    user_ids: set[int] = field(default_factory=set)
    active_user_ids: set[int] = field(default_factory=set)
    place_ids: set[int] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    event_ids: set[int] = field(default_factory=set)
    actor_ids: set[str] = field(default_factory=set)
    instance_domains: set[str] = field(default_factory=set)
    collection_ids: set[int] = field(default_factory=set)
    client_ids: set[str] = field(default_factory=set)
    media_names: set[str] = field(default_factory=set)

    def run(self) -> None:
        self.report.gancio_version = self._version()
        self.settings()
        self.users()
        self.places()
        self.tags_table()
        self.instances()
        self.actors()
        self.events()
        self.event_tags()
        self.resources()
        self.collections()
        self.filters()
        self.announcements()
        self.pages()
        self.messages()
        self.oauth_clients()
        self.oauth_tokens()
        self.media()

    def _version(self) -> str:
        if not self.source.has("SequelizeMeta", "name"):
            return ""
        names = sorted(str(row["name"]) for row in self.source.rows("SequelizeMeta"))
        return names[-1].removesuffix(".js") if names else ""

    def _rows(self, table_name: str, order_by: tuple[str, ...] = ("id",)) -> Iterator[dict[str, Any]]:
        """The source rows of a table, counted as read and shown in the progress bar."""
        table_report = self.report.table(table_name)
        self.progress.start(table_name, self.source.count(table_name))
        for row in self.source.rows(table_name, order_by):
            table_report.read += 1
            self.progress.advance(1)
            yield row

    def _insert(self, table_name: str, model: type[Base], rows: Iterable[dict[str, Any]]) -> None:
        """Insert in batches and count what was imported. Each batch is one executemany of the
        statement compiled once, its values passed through the columns' own bind processors (the JSON
        and UTC-time encodings): the same rows as `session.execute(insert(...), rows)`, without its
        per-row bookkeeping, which was most of the time of a 100,000-event import."""
        table_report = self.report.table(table_name)
        table = Base.metadata.tables[model.__tablename__]
        connection = self.db.connection()
        dialect = connection.dialect
        for batch in _batches(rows):
            keys = list(batch[0])
            # Columns the rows leave out take their scalar default here: the statement is run by the
            # driver directly, where SQLAlchemy's own defaults would not be filled in.
            defaults = _scalar_defaults(table, keys)
            if defaults:
                batch = [{**defaults, **row} for row in batch]
                keys += list(defaults)
            compiled = insert(table).compile(dialect=dialect, column_keys=keys)
            processors = {key: table.c[key].type._cached_bind_processor(dialect) for key in keys}
            encoded = [
                {key: (fn(row[key]) if (fn := processors[key]) else row[key]) for key in keys}
                for row in batch
            ]
            if compiled.positional:
                order = list(compiled.positiontup or [])
                connection.exec_driver_sql(
                    str(compiled), [tuple(row[key] for key in order) for row in encoded]
                )
            else:
                connection.exec_driver_sql(str(compiled), encoded)
            table_report.imported += len(batch)

    # -- instance settings --------------------------------------------------------------------------

    def settings(self) -> None:
        self._insert("settings", Setting, self._setting_rows())

    def _setting_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("settings")
        keys: dict[str, Any] = {}
        rows: dict[str, dict[str, Any]] = {}
        for row in self._rows("settings", ("key",)):
            key = as_text(row["key"]) or ""
            try:
                value = as_json(row["value"])
            except ValueError:
                table_report.skip(key, "its value is not valid JSON")
                continue
            keys[key] = value
            rows[key] = row
        public_key, private_key = keys.pop("publicKey", None), keys.pop("privateKey", None)
        if isinstance(public_key, str) and isinstance(private_key, str):
            created = _created(rows["publicKey"])
            self.db.add(
                InstanceKey(id=1, public_key_pem=public_key, private_key_pem=private_key, created_at=created)
            )
            self.report.table("settings").imported += 2
            self.report.notes.append("The instance's key pair is kept: followers keep trusting its actor.")
        elif public_key is not None or private_key is not None:
            table_report.skip("publicKey/privateKey", "only half of the key pair is stored")
        if "trusted_instances_label" in keys and "trusted_sources_label" not in keys:
            keys["trusted_sources_label"] = keys["trusted_instances_label"]
            rows["trusted_sources_label"] = rows["trusted_instances_label"]
        if "instance_name" not in keys and public_key is not None:
            # Gancio's actor name when no row names one; pinned so that a later default cannot move it.
            keys["instance_name"] = "relay"
            rows["instance_name"] = rows["publicKey"]
        for key, value in keys.items():
            row = rows[key]
            if key in DROPPED_SETTINGS or key.startswith("plugin_"):
                reason = DROPPED_SETTINGS.get(key, "Piazza has no plugins (its settings may hold secrets)")
                table_report.skip(key, reason)
                continue
            if len(key) > MAX_STRING:
                table_report.skip(key[:40], "the key is longer than 255 characters")
                continue
            if key in ("logo", "fallback_image", "header_image"):
                value = self._instance_image(key, value)
                if value is None:
                    continue
            elif key == "about" and isinstance(value, str):
                cleaned = sanitize_description(value)
                if cleaned != value:
                    self.report.notes.append("The About page's HTML was sanitized (scripts and handlers go).")
                value = cleaned
            elif key == "custom_js" and value:
                self.report.warnings.append(
                    "custom_js was carried over: it runs in every visitor's browser; review it."
                )
            elif key not in KNOWN_SETTINGS:
                self.report.notes.append(f"Setting {key!r} is not one of Gancio's; kept as it was.")
            try:
                is_secret = bool(as_bool(row.get("is_secret")))
            except ValueError:
                is_secret = True  # unreadable: the safe side
            yield {
                "key": key,
                "value": value,
                "is_secret": is_secret,
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    def _instance_image(self, key: str, value: Any) -> Any:
        """Copy a logo, fallback or header image into Piazza's instance folder; the setting's new value."""
        image = next(item for item in IMAGES.values() if item.setting == key)
        if value is False or value is None:
            return False
        if not isinstance(value, str):
            self.report.table("settings").skip(key, "not a file path")
            return None
        name = os.path.basename(value.rstrip("/"))
        if key == "logo" and not name.endswith(".png"):
            name += ".png"  # Gancio stores the logo's path without its extension
        path = self.options.media_dir / name
        try:
            png = to_png(path.read_bytes(), image.width)
        except OSError:
            self.report.table("settings").skip(key, f"the file {name} is not in the uploads folder")
            self.report.files_missing.append(name)
            return None
        except Invalid:
            self.report.table("settings").skip(key, f"the file {name} is not an image")
            return None
        self.files.write(images_dir(self.config.data_dir) / image.file_name, png)
        self.report.files_copied += 1
        return image.file_name

    # -- people -------------------------------------------------------------------------------------

    def users(self) -> None:
        self._insert("users", User, self._user_rows())
        if self.source.has("users", "to_notify"):
            self.report.notes.append(
                "Gancio's users.to_notify (1.26+) has no Piazza column and was not carried."
            )

    def _user_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("users")
        logins: dict[str, int] = {}
        code_expiry = utcnow() + timedelta(seconds=self.config.invite_code_lifetime)
        for row in self._rows("users"):
            try:
                user_id = as_int(row["id"])
                active = bool(as_bool(row.get("is_active")))
                is_admin = bool(as_bool(row.get("is_admin")))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            if user_id is None:
                table_report.skip(None, "no id")
                continue
            raw_login = as_text(row["email"]) or ""
            login = normalise_email(raw_login)
            if not login or len(login) > MAX_STRING:
                table_report.skip(user_id, "its login is empty or longer than 255 characters")
                continue
            if login in logins:
                table_report.skip(
                    user_id,
                    f"its login differs only in case from user {logins[login]}'s, and Piazza logins "
                    "ignore case; its events are kept without an owner",
                )
                continue
            logins[login] = user_id
            role = as_text(row.get("role")) or (Role.ADMIN.value if is_admin else Role.USER.value)
            if role not in {r.value for r in Role}:
                self.report.notes.append(f"User {user_id} had the unknown role {role!r}; now a user.")
                role = Role.USER.value
            try:
                settings = as_json(row.get("settings"))
            except ValueError:
                settings = None
            code = (as_text(row.get("recover_code")) or "").strip().lower()
            password = as_text(row.get("password")) or None
            yield {
                "id": user_id,
                "email": login,
                "password": password,
                "role": role,
                "is_active": active,
                "settings": [] if settings is None else settings,
                "description": as_text(row.get("description")),
                # A pending invitation or reset keeps working (with an expiry Gancio never had).
                "recover_code": digest(code) if code else None,
                "recover_code_expires_at": code_expiry if code else None,
                "created_at": _created(row),
                "updated_at": _updated(row),
            }
            self.user_ids.add(user_id)
            if active:
                self.active_user_ids.add(user_id)

    # -- places and tags ----------------------------------------------------------------------------

    def places(self) -> None:
        self._insert("places", Place, self._place_rows())

    def _place_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("places")
        for row in self._rows("places"):
            try:
                place_id = as_int(row["id"])
                latitude, longitude = as_float(row.get("latitude")), as_float(row.get("longitude"))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            name = (as_text(row["name"]) or "").strip()
            if place_id is None or not name:
                table_report.skip(place_id, "no id or no name")
                continue
            if len(name) > MAX_STRING:
                self.report.notes.append(f"Place {place_id}'s name was cut to 255 characters.")
                name = name[:MAX_STRING]
            address = as_text(row.get("address")) or ""
            if len(address) > MAX_STRING:
                self.report.notes.append(f"Place {place_id}'s address was cut to 255 characters.")
                address = address[:MAX_STRING]
            yield {
                "id": place_id,
                "name": name,
                "address": address,
                "latitude": latitude,
                "longitude": longitude,
                "ap_id": as_text(row.get("ap_id")),
                "created_at": _created(row),
                "updated_at": _updated(row),
            }
            self.place_ids.add(place_id)

    def tags_table(self) -> None:
        self._insert("tags", Tag, self._tag_rows())

    def _tag_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("tags")
        for row in self._rows("tags", ("tag",)):
            tag = as_text(row["tag"]) or ""
            if not tag.strip():
                table_report.skip(repr(tag), "an empty tag")
                continue
            if len(tag) > MAX_STRING:
                table_report.skip(tag[:40], "longer than 255 characters")
                continue
            if tag in self.tags:
                continue
            self.tags.add(tag)
            yield {
                "tag": tag,
                "folded": tag.casefold(),
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    # -- federation ---------------------------------------------------------------------------------

    def instances(self) -> None:
        self._insert("instances", Instance, self._instance_rows())

    def _instance_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("instances")
        for row in self._rows("instances", ("domain",)):
            domain = as_text(row.get("domain")) or ""
            if not domain or len(domain) > MAX_STRING:
                table_report.skip(domain[:40], "no domain, or longer than 255 characters")
                continue
            try:
                data = as_json(row.get("data"))
                blocked = bool(as_bool(row.get("blocked")))
            except ValueError as exc:
                table_report.skip(domain, str(exc))
                continue
            self.instance_domains.add(domain)
            yield {
                "domain": domain,
                "name": (as_text(row.get("name")) or "")[:MAX_STRING] or None,
                "blocked": blocked,
                "data": data if isinstance(data, dict) else {},
                "application_actor": as_text(row.get("applicationActor")),
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    def actors(self) -> None:
        self._insert("ap_users", Actor, self._actor_rows())

    def _actor_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("ap_users")
        for row in self._rows("ap_users", ("ap_id",)):
            ap_id = as_text(row.get("ap_id")) or ""
            domain = as_text(row.get("instanceDomain"))
            if not ap_id:
                table_report.skip(None, "no ap_id")
                continue
            if domain is not None and domain not in self.instance_domains:
                table_report.skip(ap_id, f"its instance {domain} is not in `instances`")
                continue
            try:
                document = as_json(row.get("object"))
                flags = {name: bool(as_bool(row.get(name))) for name in ("follower", "following", "trusted")}
                blocked = bool(as_bool(row.get("blocked")))
            except ValueError as exc:
                table_report.skip(ap_id, str(exc))
                continue
            self.actor_ids.add(ap_id)
            yield {
                "ap_id": ap_id,
                "object": document if isinstance(document, dict) else {},
                "instance_domain": domain,
                **flags,
                "blocked": blocked,
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    def resources(self) -> None:
        self._insert("resources", Resource, self._resource_rows())

    def _resource_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("resources")
        seen: set[str] = set()
        for row in self._rows("resources"):
            try:
                resource_id, event_id = as_int(row.get("id")), as_int(row.get("eventId"))
                data, hidden = as_json(row.get("data")), bool(as_bool(row.get("hidden")))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            ap_id = as_text(row.get("activitypub_id")) or ""
            actor = as_text(row.get("apUserApId")) or ""
            if event_id not in self.event_ids:
                table_report.skip(resource_id, "its event is gone")
                continue
            if actor not in self.actor_ids:
                table_report.skip(resource_id, "its author is not in ap_users")
                continue
            if not ap_id or ap_id in seen:
                table_report.skip(resource_id, "no activitypub_id, or one seen before")
                continue
            seen.add(ap_id)
            if isinstance(data, dict) and isinstance(data.get("content"), str):
                data = {**data, "content": sanitize_description(data["content"])}
            yield {
                "id": resource_id,
                "activitypub_id": ap_id,
                "event_id": event_id,
                "actor_ap_id": actor,
                "data": data if isinstance(data, dict) else {},
                "hidden": hidden,
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    # -- events -------------------------------------------------------------------------------------

    def events(self) -> None:
        parents: list[dict[str, Any]] = []
        self._insert("events", Event, self._event_rows(parents))
        # Parents are linked once every event is in, whatever the order of their ids.
        linked = [link for link in parents if link["parent"] in self.event_ids]
        for link in parents:
            if link["parent"] not in self.event_ids:
                self.report.notes.append(
                    f"Event {link['event_id']}'s recurrence parent {link['parent']} is gone; "
                    "it is now a one-off event."
                )
        events_table = Base.metadata.tables[Event.__tablename__]
        for batch in _batches(linked):
            self.db.execute(
                update(events_table)
                .where(events_table.c.id == bindparam("event_id"))
                # updated_at given, or its onupdate would stamp the import's time on every occurrence.
                .values(parent_id=bindparam("parent"), updated_at=bindparam("updated")),
                batch,
            )

    def _event_rows(self, parents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("events")
        slugs: set[str] = set()
        for row in self._rows("events"):
            try:
                event_id = as_int(row["id"])
                start = as_int(row.get("start_datetime"))
                place_id, user_id = as_int(row.get("placeId")), as_int(row.get("userId"))
                parent_id = as_int(row.get("parentId"))
                multidate, visible = as_bool(row.get("multidate")), bool(as_bool(row.get("is_visible")))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            if event_id is None or start is None:
                table_report.skip(event_id, "no id or no start time")
                continue
            try:
                end = as_int(row.get("end_datetime"))
            except ValueError:
                self.report.notes.append(f"Event {event_id}'s end time was unreadable; it has none now.")
                end = None
            actor = as_text(row.get("apUserApId"))
            if actor is not None and actor not in self.actor_ids:
                table_report.skip(event_id, "a federated event whose actor is not in ap_users")
                continue
            if place_id is not None and place_id not in self.place_ids:
                self.report.notes.append(f"Event {event_id}'s place {place_id} is gone; it has none now.")
                place_id = None
            if user_id is not None and user_id not in self.user_ids:
                self.report.notes.append(f"Event {event_id}'s owner {user_id} is gone; it has none now.")
                user_id = None
            slug = as_text(row.get("slug"))
            if slug is not None and (len(slug) > MAX_STRING or slug in slugs):
                self.report.notes.append(f"Event {event_id}'s slug was too long or taken; it has none now.")
                slug = None
            if slug:
                slugs.add(slug)
            if parent_id is not None:
                parents.append({"event_id": event_id, "parent": parent_id, "updated": _updated(row)})
            self.event_ids.add(event_id)
            yield {
                "id": event_id,
                "title": as_text(row.get("title")) or "",
                "slug": slug,
                "description": sanitize_description(as_text(row.get("description"))),
                "multidate": multidate,
                "start_datetime": start,
                "end_datetime": end,
                "image_path": (as_text(row.get("image_path")) or "")[:MAX_STRING] or None,
                "media": self._media(event_id, row),
                "is_visible": visible,
                "recurrent": self._recurrence(event_id, row.get("recurrent")),
                "likes": _string_list(self._json(row.get("likes"))),
                "boost": _string_list(self._json(row.get("boost"))),
                "online_locations": self._online_locations(row.get("online_locations")),
                "place_id": place_id,
                "user_id": user_id,
                "parent_id": None,
                "ap_id": as_text(row.get("ap_id")),
                "ap_user_ap_id": actor,
                "ap_object": self._json(row.get("ap_object")),
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    @staticmethod
    def _json(value: Any) -> Any:
        try:
            return as_json(value)
        except ValueError:
            return None

    def _recurrence(self, event_id: int, value: Any) -> Any:
        rule = self._json(value)
        if rule is None:
            return None
        try:
            return validate_rule(rule)
        except Invalid as exc:
            self.report.notes.append(
                f"Event {event_id}'s recurrence {json.dumps(rule)[:60]} is not one Piazza repeats "
                f"({exc.message}); imported as a one-off event."
            )
            return None

    @staticmethod
    def _online_locations(value: Any) -> list[str]:
        try:
            locations = as_json(value)
        except ValueError:
            locations = value  # a bare URL stored as text
        if isinstance(locations, str):
            return [locations] if locations.strip() else []
        return _string_list(locations)

    def _media(self, event_id: int, row: dict[str, Any]) -> list[dict[str, Any]]:
        media = self._json(row.get("media"))
        if media is None and row.get("image_path"):
            media = [{"url": as_text(row["image_path"])}]  # rows older than the media column
        items: list[dict[str, Any]] = []
        for item in media if isinstance(media, list) else []:
            if not isinstance(item, dict):
                continue
            name = _safe_file_name(item.get("url"))
            if name is None:
                self.report.notes.append(f"Event {event_id}'s image name {item.get('url')!r} was dropped.")
                continue
            items.append({**item, "url": name})
            self.media_names.add(name)
        return items

    def event_tags(self) -> None:
        self._insert("event_tags", EventTag, self._event_tag_rows())

    def _event_tag_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("event_tags")
        seen: set[tuple[int, str]] = set()
        for row in self._rows("event_tags", ("eventId", "tagTag")):
            try:
                event_id = as_int(row["eventId"])
            except ValueError:
                event_id = None
            tag = as_text(row["tagTag"]) or ""
            if event_id not in self.event_ids or event_id is None:
                table_report.skip(f"{event_id}/{tag}", "its event is not imported")
                continue
            if tag not in self.tags:
                table_report.skip(f"{event_id}/{tag}", "its tag is not imported")
                continue
            if (event_id, tag) in seen:
                continue
            seen.add((event_id, tag))
            yield {"event_id": event_id, "tag": tag, "created_at": _created(row)}

    # -- collections, announcements, pages, messages ------------------------------------------------

    def collections(self) -> None:
        self._insert("collections", Collection, self._collection_rows())

    def _collection_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("collections")
        for row in self._rows("collections"):
            try:
                collection_id = as_int(row["id"])
                sort_index = as_int(row.get("sortIndex"))
                is_top, is_actor = as_bool(row.get("isTop")), as_bool(row.get("isActor"))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            name = as_text(row.get("name")) or ""
            if collection_id is None or not name or len(name) > MAX_STRING:
                table_report.skip(collection_id, "no name, or longer than 255 characters")
                continue
            self.collection_ids.add(collection_id)
            yield {
                "id": collection_id,
                "name": name,
                "is_actor": True if is_actor is None else is_actor,
                "is_top": bool(is_top),
                "sort_index": collection_id if sort_index is None else sort_index,
            }

    def filters(self) -> None:
        self._insert("filters", Filter, self._filter_rows())

    def _filter_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("filters")
        for row in self._rows("filters"):
            try:
                filter_id, collection_id = as_int(row["id"]), as_int(row.get("collectionId"))
                negate = bool(as_bool(row.get("negate")))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            if collection_id not in self.collection_ids:
                table_report.skip(filter_id, "its collection is gone")
                continue
            places = self._json(row.get("places"))
            actors = self._json(row.get("actors"))
            yield {
                "id": filter_id,
                "collection_id": collection_id,
                "tags": _string_list(self._json(row.get("tags"))),
                "places": [p for p in places if isinstance(p, dict)] if isinstance(places, list) else [],
                "actors": [a for a in actors if isinstance(a, dict)] if isinstance(actors, list) else [],
                "negate": negate,
            }

    def announcements(self) -> None:
        self._insert("announcements", Announcement, self._html_rows("announcements", "announcement"))

    def pages(self) -> None:
        self._insert("pages", Page, self._html_rows("pages", "content"))

    def _html_rows(self, table_name: str, body: str) -> Iterator[dict[str, Any]]:
        """Announcements and pages: Gancio stored their HTML raw; here it is sanitized."""
        table_report = self.report.table(table_name)
        slugs: set[str] = set()
        for row in self._rows(table_name):
            try:
                row_id, visible = as_int(row["id"]), as_bool(row.get("visible"))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            raw = as_text(row.get(body)) or ""
            cleaned = sanitize_description(raw)
            if cleaned != raw.strip():
                self.report.notes.append(f"The HTML of {table_name} {row_id} was sanitized.")
            values = {
                "id": row_id,
                "title": (as_text(row.get("title")) or "")[:MAX_STRING],
                body: cleaned,
                "visible": True if visible is None else visible,
                "created_at": _created(row),
                "updated_at": _updated(row),
            }
            if table_name == "pages":
                slug = as_text(row.get("slug")) or ""
                if not slug or len(slug) > MAX_STRING or slug in slugs:
                    table_report.skip(row_id, "no slug, a slug seen before, or one too long")
                    continue
                slugs.add(slug)
                values["slug"] = slug
            yield values

    def messages(self) -> None:
        self._insert("messages", ModerationMessage, self._message_rows())

    def _message_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("messages")
        authors = {a.value for a in MessageAuthor}
        for row in self._rows("messages"):
            try:
                message_id, event_id = as_int(row["id"]), as_int(row.get("eventId"))
                author_visible = bool(as_bool(row.get("is_author_visible")))
            except ValueError as exc:
                table_report.skip(row.get("id"), str(exc))
                continue
            if event_id not in self.event_ids:
                table_report.skip(message_id, "its event is gone")
                continue
            author = as_text(row.get("author")) or ""
            yield {
                "id": message_id,
                "event_id": event_id,
                "message": as_text(row.get("message")) or "",
                # REGISTERED (a signed-in reader) is ANON here: anyone but a moderator or the owner.
                "author": author if author in authors else MessageAuthor.ANON.value,
                "is_author_visible": author_visible,
                "created_at": _created(row),
                "updated_at": _updated(row),
            }

    # -- OAuth --------------------------------------------------------------------------------------

    def oauth_clients(self) -> None:
        self._insert("oauth_clients", Client, self._client_rows())

    def _client_rows(self) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("oauth_clients")
        for row in self._rows("oauth_clients"):
            client_id = as_text(row.get("id")) or ""
            if client_id == SELF_CLIENT_ID:
                table_report.skip(client_id, "Gancio's own web client; Piazza has its own")
                continue
            if not client_id or len(client_id) > 40:
                table_report.skip(client_id[:40], "no id, or longer than 40 characters")
                continue
            secret = as_text(row.get("client_secret"))
            try:
                uris = parse_redirect_uris(as_text(row.get("redirectUris")))
            except RegistrationError as exc:
                self.report.notes.append(
                    f"OAuth client {client_id}'s redirect URI was refused ({exc.message}); it keeps its "
                    "token but cannot use the authorization-code flow until it registers again."
                )
                uris = []
            self.client_ids.add(client_id)
            yield {
                "id": client_id,
                "name": (as_text(row.get("name")) or client_id)[:MAX_STRING],
                "secret_digest": digest(secret) if secret else None,
                "redirect_uris": uris,
                "scopes": THIRD_PARTY_SCOPE,
                "website": (as_text(row.get("website")) or "")[:2048] or None,
                "created_at": _created(row),
            }

    def oauth_tokens(self) -> None:
        consents: dict[tuple[int, str], datetime] = {}
        self._insert("oauth_tokens", Token, self._token_rows(consents))
        # The users already approved these apps: Piazza will not ask them again.
        self._insert(
            "oauth_consents",
            Consent,
            (
                {
                    "id": number,
                    "user_id": user_id,
                    "client_id": client_id,
                    "scope": THIRD_PARTY_SCOPE,
                    "approved_at": at,
                }
                for number, ((user_id, client_id), at) in enumerate(sorted(consents.items()), start=1)
            ),
        )

    def _token_rows(self, consents: dict[tuple[int, str], datetime]) -> Iterator[dict[str, Any]]:
        table_report = self.report.table("oauth_tokens")
        refresh_seen: set[str] = set()
        number = 0  # explicit ids, so that a second import gives the same rows
        for row in self._rows("oauth_tokens", ("accessToken",)):
            access = as_text(row.get("accessToken")) or ""
            client_id = as_text(row.get("clientId"))
            try:
                user_id = as_int(row.get("userId"))
            except ValueError:
                user_id = None
            label = f"token of user {user_id}, client {client_id}"
            if client_id == SELF_CLIENT_ID:
                table_report.skip(label, "a web login of Gancio's own client: the user logs in again")
                continue
            if client_id is None:
                table_report.skip(label, "no client (issued by Gancio's implicit grant)")
                continue
            if client_id not in self.client_ids:
                table_report.skip(label, "its client is not imported")
                continue
            if user_id not in self.active_user_ids or user_id is None:
                table_report.skip(label, "its user is inactive or gone")
                continue
            if not access:
                table_report.skip(label, "no access token")
                continue
            refresh = as_text(row.get("refreshToken"))
            refresh_digest = digest(refresh) if refresh and refresh not in refresh_seen else None
            if refresh:
                refresh_seen.add(refresh)
            created = _created(row)
            number += 1
            key = (user_id, client_id)
            consents[key] = min(created, consents.get(key, created))
            yield {
                "id": number,
                "access_digest": digest(access),
                "refresh_digest": refresh_digest,
                "client_id": client_id,
                "user_id": user_id,
                "scope": THIRD_PARTY_SCOPE,
                # One per token, derived from it so that a second import gives the same rows.
                "family_id": digest("family:" + access)[:40],
                # Gancio's tokens never expired; apps such as the WordPress plugin depend on that.
                "access_expires_at": None,
                "refresh_expires_at": None,
                "created_at": created,
            }

    # -- files --------------------------------------------------------------------------------------

    def media(self) -> None:
        """Copy every referenced event image with its thumbnail (made when missing), checking each."""
        target = self.config.media_dir
        self.progress.start("media files", len(self.media_names))
        for name in sorted(self.media_names):
            self.progress.advance(1)
            path = self.options.media_dir / name
            try:
                data = path.read_bytes()
            except OSError:
                self.report.files_missing.append(name)
                continue
            try:
                thumb = (self.options.media_dir / THUMB_FOLDER / name).read_bytes()
                _check_image(thumb)
            except (OSError, Invalid):
                thumb = None
            try:
                _check_image(data)
                if thumb is None:
                    thumb = process_image(data).thumb
                    self.report.thumbnails_made += 1
            except Invalid:
                self.report.notes.append(f"The image {name} is not a readable image; not copied.")
                self.report.files_missing.append(name)
                continue
            self.files.write(target / name, data)
            self.files.write(target / THUMB_FOLDER / name, thumb)
            self.report.files_copied += 1
        if self.report.files_missing:
            self.report.warnings.append(
                f"{len(self.report.files_missing)} referenced files are missing or unreadable in "
                f"{self.options.media_dir}: {', '.join(sorted(self.report.files_missing)[:10])}"
            )


def _check_image(data: bytes) -> None:
    """Raises Invalid unless Pillow decodes the bytes as an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:  # Pillow raises many kinds for broken files
        raise Invalid("not an image") from None


__all__ = [
    "ImportOptions",
    "TargetNotEmpty",
    "base_url_warning",
    "import_gancio",
    "read_gancio_config",
]


def _scalar_defaults(table: Table, keys: list[str]) -> dict[str, Any]:
    """The Python-side scalar defaults of the columns of `table` not among `keys`."""
    defaults: dict[str, Any] = {}
    for column in table.c:
        default = column.default
        if column.key in keys or default is None:
            continue
        if not isinstance(default, ScalarElementColumnDefault):
            raise TypeError(
                f"{table.name}.{column.key}: the importer must give a value (its default is not a constant)"
            )
        defaults[column.key] = default.arg
    return defaults
