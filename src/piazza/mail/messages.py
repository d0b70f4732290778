"""The texts of Piazza's mails (gancio-api.md §6: register, admin_register, confirm, user_confirm,
recover, and the SMTP test). Plain text: nothing to render or escape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mail:
    kind: str
    recipient: str
    subject: str
    body: str


def register(recipient: str, title: str) -> Mail:
    return Mail(
        "register",
        recipient,
        f"[{title}] Registration request received",
        f"We received your registration request on {title}.\n\n"
        "An administrator will review it; you will get another mail when your account is confirmed.\n",
    )


def admin_register(recipient: str, title: str, new_user_email: str, description: str | None) -> Mail:
    note = f"\nTheir note:\n{description}\n" if description else ""
    return Mail(
        "admin_register",
        recipient,
        f"[{title}] New registration: {new_user_email}",
        f"{new_user_email} asked for an account on {title}.\n{note}\n"
        "Activate it from the users page of the admin panel.\n",
    )


def confirm(recipient: str, title: str, base_url: str) -> Mail:
    return Mail(
        "confirm",
        recipient,
        f"[{title}] Your account is confirmed",
        f"Your account {recipient} on {title} has been confirmed.\n\nYou can log in at {base_url}/login\n",
    )


def user_confirm(recipient: str, title: str, base_url: str, code: str) -> Mail:
    return Mail(
        "user_confirm",
        recipient,
        f"[{title}] You have been invited",
        f"An account {recipient} has been created for you on {title}.\n\n"
        f"Choose your password here: {base_url}/user_confirm/{code}\n",
    )


def recover(recipient: str, title: str, base_url: str, code: str, minutes: int) -> Mail:
    return Mail(
        "recover",
        recipient,
        f"[{title}] Password reset",
        f"Someone asked to reset the password of {recipient} on {title}.\n\n"
        f"To choose a new password, open {base_url}/recover/{code}\n"
        f"The link works once, within {minutes} minutes. If you did not ask, ignore this mail.\n",
    )


def smtp_test(recipient: str, title: str) -> Mail:
    return Mail(
        "test",
        recipient,
        f"[{title}] Test mail",
        f"This is a test mail from {title}: the SMTP settings work.\n",
    )
