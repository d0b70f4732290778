"""Piazza's configuration: one typed object, read from `PIAZZA_*` variables and an optional TOML file.

Precedence, highest first: arguments given to `Config(...)` (tests), environment variables, the TOML
file named by `PIAZZA_CONFIG`, then the defaults below. Nothing here runs at import time: the CLI and
the app factory build a Config when they start, and a bad value stops them with the variable's name.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from piazza.durable import create_file_once

ENV_PREFIX = "PIAZZA_"
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name, not a secret)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the variable."""


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    base_url: str = Field("http://127.0.0.1:13120", description="Public URL; the OAuth issuer.")
    data_dir: Path = Field(Path("data"), description="Folder for the SQLite file, the secret key and media.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in the data folder.")
    secret_key: SecretStr = Field(SecretStr(""), description="Signs sessions; generated once if empty.")
    host: str = "127.0.0.1"
    port: int = Field(13120, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    rate_limits: bool = Field(True, description="`off` disables every rate limit.")
    log_level: LogLevel = "INFO"
    access_log: bool = Field(True, description="One INFO line per request; `off` disables it.")
    # 0 = never expires. Apps in the wild (the WordPress plugin) store one access token and never
    # refresh, so access tokens live forever unless an operator chooses otherwise.
    access_token_ttl: int = Field(0, ge=0, description="Seconds an access token lives; 0 = never.")
    refresh_token_ttl: int = Field(0, ge=0, description="Seconds a refresh token lives; 0 = never.")
    read_cache_seconds: float = Field(
        5.0, ge=0, le=60, description="Seconds a token check may be reused while the database is unchanged."
    )
    answer_cache_size: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Bytes of big answers (full listing, feeds) kept in <data>/cache/answers; 0 keeps none.",
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed."
    )
    redis_url: SecretStr = Field(SecretStr(""), description="Redis for rate-limit counters; empty: database.")
    max_body_size: int = Field(1024 * 1024, ge=1024, description="Request body cap in bytes (413).")
    max_upload_size: int = Field(10 * 1024 * 1024, ge=1024, description="Cap for multipart uploads (413).")
    max_multipart_parts: int = Field(200, ge=1, description="Parts in one multipart body (413).")
    max_json_depth: int = Field(32, ge=1, description="Nesting of JSON arrays and objects (400).")
    max_query_length: int = Field(4096, ge=256, description="Query string length in bytes (414).")
    max_header_size: int = Field(16 * 1024, ge=1024, description="All request headers, in bytes (431).")
    body_timeout: float = Field(30.0, gt=0, description="Seconds a request body may stall (408).")
    body_deadline: float = Field(60.0, gt=0, description="Seconds a whole request body may take (408).")
    header_timeout: float = Field(10.0, gt=0, description="Seconds a client has to send a request head.")
    max_connections_per_address: int = Field(
        64, ge=1, description="Open connections one client address may hold in each worker."
    )
    # E-mail. Each PIAZZA_SMTP_* value, when set, overrides the same key of the `smtp` setting.
    smtp_host: str = Field("", description="SMTP server; overrides smtp.host.")
    smtp_port: int = Field(0, ge=0, le=65535, description="SMTP port; 0 means smtp.port (or 587 / 465).")
    smtp_user: str = Field("", description="SMTP login; overrides smtp.auth.user.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password; overrides smtp.auth.pass.")
    smtp_from: str = Field("", description="Sender address; overrides smtp.from.")
    smtp_secure: bool | None = Field(
        None, description="TLS from the first byte (port 465); overrides smtp.secure."
    )
    mail_max_attempts: int = Field(
        6, ge=1, le=100, description="Delivery attempts before a mail is given up."
    )
    mail_poll_seconds: float = Field(5.0, gt=0, le=3600, description="How often the outbox is checked.")
    recover_code_lifetime: int = Field(3600, ge=60, description="Seconds a password recovery code is valid.")
    invite_code_lifetime: int = Field(
        7 * 24 * 3600, ge=60, description="Seconds the code of an admin's invitation is valid."
    )
    allow_private_fetch: bool = Field(
        False, description="Let `image_url` fetch private and loopback addresses (tests, intranets)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if toml_file:
            if not Path(toml_file).is_file():
                raise ConfigError(f"{ENV_PREFIX}CONFIG: no such file: {toml_file}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL, like https://agenda.example.org")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or a fragment")
        return value.strip().rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        value = value.strip()
        # psycopg 3 is the PostgreSQL driver; accept the URL forms people copy from elsewhere.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if value and not value.startswith(("sqlite", "postgresql+psycopg")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @model_validator(mode="after")
    def _check_secret_key(self) -> Config:
        key = self.secret_key.get_secret_value()
        if key and len(key) < 32:
            raise ValueError("secret_key: must be at least 32 characters (or empty to generate one)")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'piazza.sqlite3').resolve()}"

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def answer_cache_dir(self) -> Path:
        return self.data_dir / "cache" / "answers"

    def with_secret_key(self) -> Config:
        """Return this config with a secret key, generating and storing one in the data folder if needed.

        The key must survive restarts and be the same for every worker, so it lives in a file that only
        its owner can read; it is never a constant in code.
        """
        if self.secret_key.get_secret_value():
            return self
        key_file = self.data_dir / SECRET_KEY_FILE
        if not key_file.exists():
            # Written whole and fsynced, then linked into place: when several workers start at once,
            # the first link wins and everyone reads that one; nobody sees a half-written key.
            create_file_once(key_file, (secrets.token_hex(32) + "\n").encode())
        key = read_secret_key(key_file)
        return self.model_copy(update={"secret_key": SecretStr(key)})


def read_secret_key(key_file: Path) -> str:
    """The key stored in `key_file`. Raises ConfigError, naming the file, when it is empty or unusable
    (a file cut short by a crash of an older version, or edited by hand)."""
    try:
        key = key_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{key_file}: the secret key file cannot be read ({exc})") from None
    if not key:
        raise ConfigError(
            f"{key_file}: the secret key file is empty; restore it from a backup, or delete it to "
            "generate a new key (everyone will have to log in again)"
        )
    if len(key) < 32 or not key.isprintable() or any(ch.isspace() for ch in key):
        raise ConfigError(
            f"{key_file}: the stored secret key is too short or damaged (32 printable characters at "
            "least); restore it from a backup, or delete it to generate a new key"
        )
    return key


def load_config(**overrides: Any) -> Config:
    """Build the Config from the environment, raising ConfigError with the variable named."""
    try:
        return Config(**overrides).with_secret_key()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "config"
            name = f"{ENV_PREFIX}{field.upper()}"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None
