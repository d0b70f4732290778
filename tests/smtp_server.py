"""A real SMTP server (aiosmtpd) on a free port, recording what it receives."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-secret-pass"


class Inbox:
    """The aiosmtpd handler: keeps each message; `refuse` makes the next N deliveries fail with 451."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = 0
        self.logins: list[str] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802  (aiosmtpd's hook name)
        if self.refuse > 0:
            self.refuse -= 1
            return "451 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            self.messages.append(message)  # type: ignore[arg-type]
            self._changed.notify_all()
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok)

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        """Wait until `count` messages have arrived (fails the test after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} mails, got {len(self.messages)}")
                self._changed.wait(remaining)
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, *, require_auth: bool = False) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        kwargs = {}
        if require_auth:
            kwargs = {
                "authenticator": self.inbox.authenticate,
                "auth_require_tls": False,
            }
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def setting(self, **extra: object) -> dict[str, object]:
        """The `smtp` setting that points at this server."""
        return {"host": "127.0.0.1", "port": self.port, "secure": False, **extra}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
def smtp_server_with_auth() -> Iterator[SmtpServer]:
    server = SmtpServer(require_auth=True)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
