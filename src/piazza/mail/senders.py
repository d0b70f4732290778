"""Ways to hand a mail to the world: SMTP, or the log when no SMTP server is configured.

The SMTP configuration is the `smtp` setting (Gancio's keys: host, port, secure, auth {user, pass},
from; gancio-api.md §2.9), with any `PIAZZA_SMTP_*` variable overriding its key.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy.orm import Session

from piazza.config import Config
from piazza.instance.settings import derived_settings, get_setting

log = logging.getLogger("piazza.mail")

SMTP_TIMEOUT_SECONDS = 20


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise an exception saying why not."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    secure: bool  # TLS from the first byte (SMTPS); otherwise STARTTLS when the server offers it
    user: str
    password: str
    sender: str

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"SmtpSettings(host={self.host!r}, port={self.port}, secure={self.secure}, user={self.user!r})"


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.secure:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            smtp.ehlo()
            if not s.secure and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password)
            smtp.send_message(message)


class LogSender:
    """Used when no SMTP host is configured: logs that a mail would go out, never its body."""

    def send(self, message: EmailMessage) -> None:
        log.warning(
            "no SMTP server configured: mail %r to %s not sent (set the smtp setting or PIAZZA_SMTP_HOST)",
            message["Subject"],
            message["To"],
        )


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def resolve_smtp_settings(db: Session, config: Config) -> SmtpSettings | None:
    """The effective SMTP settings (setting overridden by PIAZZA_SMTP_*), or None when there is no host."""
    stored = get_setting(db, "smtp")
    stored = stored if isinstance(stored, dict) else {}
    auth = stored.get("auth")
    auth = auth if isinstance(auth, dict) else {}
    host = config.smtp_host or _str(stored.get("host"))
    if not host:
        return None
    secure = config.smtp_secure if config.smtp_secure is not None else stored.get("secure") is True
    port = config.smtp_port or _int(stored.get("port")) or (465 if secure else 587)
    password = config.smtp_password.get_secret_value() or _str(auth.get("pass"))
    sender = config.smtp_from or _str(stored.get("from")) or _default_sender(db, config)
    return SmtpSettings(
        host=host,
        port=port,
        secure=secure,
        user=config.smtp_user or _str(auth.get("user")),
        password=password,
        sender=sender,
    )


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _default_sender(db: Session, config: Config) -> str:
    admin_email = get_setting(db, "admin_email")
    if isinstance(admin_email, str) and admin_email.strip():
        return admin_email.strip()
    return f"noreply@{derived_settings(config.base_url)['hostname'].split(':')[0]}"


def resolve_sender(db: Session, config: Config) -> tuple[MailSender, str]:
    """The sender to use now and the From address, read from the settings at the time of sending."""
    settings = resolve_smtp_settings(db, config)
    if settings is None:
        return LogSender(), _default_sender(db, config)
    return SmtpSender(settings), settings.sender
