"""Registration, administration of users, and password recovery (gancio-api.md §6).

Where Gancio is unsafe this keeps its wire shape and does the safe thing (§3.8, "Related weaknesses
outside OAuth"): a registrant cannot choose a role, the first-user rule is race-free, recovery codes are
random, hashed at rest, single use and short-lived, and every change of password or access revokes the
user's tokens. Mails are queued in the same transaction as the change (piazza.mail.outbox).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from piazza.accounts.models import Role, User
from piazza.accounts.service import (
    create_user,
    find_user_by_email,
    get_user,
    normalise_email,
    set_password,
    validate_password,
    validate_role,
)
from piazza.config import Config
from piazza.db.base import affected_rows, utcnow
from piazza.errors import Conflict, Invalid, NotFound
from piazza.instance.settings import get_setting
from piazza.mail import enqueue
from piazza.mail import messages as mails
from piazza.oauth.tokens import digest, generate_token, revoke_tokens_of_user

MAX_DESCRIPTION_LENGTH = 5000
MAX_CODE_LENGTH = 128
# Any constant: the key of the PostgreSQL advisory lock that serializes first registrations.
FIRST_USER_LOCK_KEY = 0x5049415A5A41  # "PIAZZA"
EDITABLE_FIELDS = ("email", "role", "is_active", "password", "description", "settings")


class InvalidEmail(NotFound):
    """Gancio answers a badly formed address at registration with 404 and the JSON string "Invalid email"."""

    message = "Invalid email"


class LastAdmin(Invalid):
    message = "the instance must keep at least one active admin"


def check_email_syntax(email: str) -> bool:
    """An address mail could be sent to, by its syntax: email-validator's reading of RFC 5321/5322 (no
    empty label as in `a..b@x.org` or `a@example..org`, a domain with a dot that is not a reserved name
    such as `.test`). Nothing is looked up: deliverability is the mail's job."""
    if len(email) > 255:
        return False
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _title(db: Session) -> str:
    title = get_setting(db, "title")
    return title if isinstance(title, str) and title else "Piazza"


def _admin_email(db: Session) -> str | None:
    value = get_setting(db, "admin_email")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _issue_code(user: User, lifetime_seconds: int) -> str:
    """A fresh single-use code for the user; only its digest is stored."""
    code = generate_token()
    user.recover_code = digest(code)
    user.recover_code_expires_at = utcnow() + timedelta(seconds=lifetime_seconds)
    return code


def _serialize_first_user(db: Session) -> None:
    """Make "is the users table empty?" and the insert one atomic step.

    SQLite writers already start with BEGIN IMMEDIATE, so they run one at a time. PostgreSQL's
    READ COMMITTED would let two first registrations both see an empty table, so they take a
    transaction-scoped advisory lock first.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIRST_USER_LOCK_KEY})


def register_user(
    db: Session, config: Config, email: str, password: str, description: str | None
) -> tuple[User, bool]:
    """Register someone; returns (user, is_first). The first user of an empty instance is an active admin;
    later ones need `allow_registration` and wait for an admin. No role can be asked for.

    Raises NotFound (registration closed), InvalidEmail, Invalid (password, description), Conflict (taken).
    """
    email = normalise_email(email)
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise Invalid("description is too long", field="description")
    _serialize_first_user(db)
    is_first = db.scalar(select(User.id).limit(1)) is None
    if not is_first and get_setting(db, "allow_registration") is not True:
        raise NotFound()
    if not check_email_syntax(email):
        raise InvalidEmail()
    if is_first:
        user = create_user(
            db, email, password=password, role=Role.ADMIN, is_active=True, description=description
        )
        return user, True
    user = create_user(db, email, password=password, role=Role.USER, is_active=False, description=description)
    title = _title(db)
    enqueue(db, mails.register(user.email, title))
    admin_email = _admin_email(db)
    if admin_email:
        enqueue(db, mails.admin_register(admin_email, title, user.email, description))
    return user, False


def invite_user(
    db: Session,
    config: Config,
    email: str,
    *,
    role: str | None = None,
    password: str | None = None,
    description: str | None = None,
) -> User:
    """An admin creates an active user and mails them a link to choose a password (Gancio's user_confirm).

    Raises Invalid (email, role, password), Conflict (email taken).
    """
    email = normalise_email(email)
    if not check_email_syntax(email):
        raise Invalid("Invalid email", field="email")
    user = create_user(
        db,
        email,
        password=password or None,
        role=role or Role.USER,
        is_active=True,
        description=description,
    )
    code = _issue_code(user, config.invite_code_lifetime)
    enqueue(db, mails.user_confirm(user.email, _title(db), config.base_url, code))
    return user


def _active_admins_other_than(db: Session, user_id: int) -> int:
    return (
        db.scalar(  # COUNT(*) always gives a row; `or 0` is for the type checker
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.is_active.is_(True), User.id != user_id)
        )
        or 0
    )


def _check_keeps_an_admin(db: Session, user: User, *, role: str, is_active: bool) -> None:
    """Raises LastAdmin when the change would leave the instance without an active admin."""
    was_admin = user.role == Role.ADMIN and user.is_active
    stays_admin = role == Role.ADMIN and is_active
    if was_admin and not stays_admin and _active_admins_other_than(db, user.id) == 0:
        raise LastAdmin()


def update_user(db: Session, config: Config, user_id: int, changes: dict[str, Any]) -> User:
    """Apply an admin's changes; only EDITABLE_FIELDS are read, everything else in `changes` is ignored
    (Gancio's admin page sends the whole user object back). An empty password is ignored, as in Gancio.

    Raises NotFound, Invalid, Conflict (email taken), LastAdmin.
    """
    user = get_user(db, user_id)
    email = changes.get("email")
    if email is not None:
        if not isinstance(email, str) or not check_email_syntax(normalise_email(email)):
            raise Invalid("Invalid email", field="email")
        email = normalise_email(email)
        other = find_user_by_email(db, email)
        if other is not None and other.id != user.id:
            raise Conflict("error.email_taken")
    role = user.role
    if changes.get("role") is not None:
        if not isinstance(changes["role"], str):
            raise Invalid("role must be a string", field="role")
        role = validate_role(changes["role"]).value
    is_active = user.is_active
    if changes.get("is_active") is not None:
        if not isinstance(changes["is_active"], bool):
            raise Invalid("is_active must be true or false", field="is_active")
        is_active = changes["is_active"]
    password = changes.get("password")
    if password is not None and not isinstance(password, str):
        raise Invalid("password must be a string", field="password")
    if password:
        validate_password(password)
    if "description" in changes:
        description = changes["description"]
        if description is not None and not isinstance(description, str):
            raise Invalid("description must be a string", field="description")
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise Invalid("description is too long", field="description")
        user.description = description
    if "settings" in changes:
        if not isinstance(changes["settings"], list | dict):
            raise Invalid("settings must be a JSON list or object", field="settings")
        user.settings = changes["settings"]
    _check_keeps_an_admin(db, user, role=role, is_active=is_active)

    activated = is_active and not user.is_active
    if email is not None:
        user.email = email
    user.role = role
    if not is_active and user.is_active:
        # Inactive users cannot log in; their tokens stop working and pending codes die with them.
        revoke_tokens_of_user(db, user.id)
        user.recover_code = None
        user.recover_code_expires_at = None
    user.is_active = is_active
    if password:
        set_password(db, user, password)
    user.updated_at = utcnow()
    try:
        with db.begin_nested():  # an address taken meanwhile by another request: 409, not 500
            db.flush()
    except IntegrityError:
        raise Conflict("error.email_taken") from None
    if activated:
        enqueue(db, mails.confirm(user.email, _title(db), config.base_url))
    return user


def delete_user(db: Session, user_id: int) -> None:
    """Delete a user. Their tokens go with them (ON DELETE CASCADE); their events stay, without an
    author (ON DELETE SET NULL), as in Gancio. Raises NotFound, LastAdmin."""
    user = get_user(db, user_id)
    _check_keeps_an_admin(db, user, role=Role.USER.value, is_active=False)
    revoke_tokens_of_user(db, user.id)
    db.delete(user)
    db.flush()


# Password recovery (gancio-api.md §6): the answers never tell whether an address exists.


def start_recovery(db: Session, config: Config, email: str) -> None:
    """Mail a recovery link to the active user with this address, if there is one; silent otherwise."""
    user = find_user_by_email(db, email)
    if user is None or not user.is_active:
        return
    code = _issue_code(user, config.recover_code_lifetime)
    minutes = max(config.recover_code_lifetime // 60, 1)
    enqueue(db, mails.recover(user.email, _title(db), config.base_url, code, minutes))


def _user_by_code(db: Session, code: Any) -> User:
    """The active user holding this unexpired code. Raises Invalid (Gancio's bare 400)."""
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
        raise Invalid()
    user = db.scalar(select(User).where(User.recover_code == digest(code.strip().lower())))
    if (
        user is None
        or not user.is_active
        or user.recover_code_expires_at is None
        or user.recover_code_expires_at <= utcnow()
    ):
        raise Invalid()
    return user


def check_recover_code(db: Session, code: Any) -> str:
    """The email of the user holding a valid code. Raises Invalid."""
    return _user_by_code(db, code).email


def recover_password(db: Session, code: Any, password: Any) -> User:
    """Set a new password with a recovery or invitation code, once. Revokes every token of the user.

    Raises Invalid (bad or used code, bad password).
    """
    user = _user_by_code(db, code)
    if not isinstance(password, str) or not password:
        raise Invalid()
    validate_password(password)
    # Consume the code with a conditional UPDATE, so two requests racing with it cannot both succeed.
    consumed = affected_rows(
        db.execute(
            update(User)
            .where(User.id == user.id, User.recover_code == user.recover_code)
            .values(recover_code=None, recover_code_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    )
    if consumed != 1:
        raise Invalid()
    db.refresh(user)
    set_password(db, user, password)
    return user
