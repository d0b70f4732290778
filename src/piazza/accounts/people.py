"""Registration, administration of users, and password recovery (gancio-api.md §6).

Where Gancio is unsafe this keeps its wire shape and does the safe thing (§3.8, "Related weaknesses
outside OAuth"): a registrant cannot choose a role, the first-user rule is race-free, recovery codes are
random, hashed at rest, single use and short-lived, and every change of password or access revokes the
user's tokens. Mails are queued in the same transaction as the change (piazza.mail.outbox).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from piazza.accounts.models import Role, User
from piazza.accounts.service import (
    create_user,
    find_user_by_email,
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
# Any constant: the key of the PostgreSQL advisory lock that serializes first registrations and every
# change that could take away the last active admin.
FIRST_USER_LOCK_KEY = 0x5049415A5A41  # "PIAZZA"
# The address of the mail written (and deleted again) for a recovery request of an unknown address.
DECOY_RECIPIENT = "nobody@recovery.invalid"
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


def _new_code(lifetime_seconds: int) -> tuple[str, str, datetime]:
    """A fresh single-use code, the digest to store (never the code) and its expiry."""
    code = generate_token()
    return code, digest(code), utcnow() + timedelta(seconds=lifetime_seconds)


def _serialize_user_changes(db: Session) -> None:
    """Make a check of the users table ("is it empty?", "is another admin left?") and the change that
    follows one atomic step.

    SQLite writers already start with BEGIN IMMEDIATE, so they run one at a time. PostgreSQL's
    READ COMMITTED would let two first registrations both see an empty table, or two admins demoting
    each other both see the other one still admin, so they take a transaction-scoped advisory lock first.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIRST_USER_LOCK_KEY})


def _user_for_change(db: Session, user_id: int) -> User:
    """The user, read again under the lock (the session may hold a copy read before it). Raises NotFound."""
    _serialize_user_changes(db)
    user = db.get(User, user_id, populate_existing=True)
    if user is None:
        raise NotFound("User not found!")
    return user


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
    _serialize_user_changes(db)
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
    code, user.invite_code, user.invite_code_expires_at = _new_code(config.invite_code_lifetime)
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
    user = _user_for_change(db, user_id)
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
        _deactivate(db, user)
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


def _deactivate(db: Session, user: User) -> None:
    """Inactive users cannot log in; their tokens stop working and pending codes die with them."""
    revoke_tokens_of_user(db, user.id)
    user.recover_code = user.recover_code_expires_at = None
    user.invite_code = user.invite_code_expires_at = None
    user.is_active = False


def deactivate_user(db: Session, user: User) -> None:
    """Disable an account (a moderator's `disable_author`). Raises LastAdmin."""
    user = _user_for_change(db, user.id)
    if not user.is_active:
        return
    _check_keeps_an_admin(db, user, role=user.role, is_active=False)
    _deactivate(db, user)
    user.updated_at = utcnow()
    db.flush()


def delete_user(db: Session, user_id: int) -> None:
    """Delete a user. Their tokens go with them (ON DELETE CASCADE); their events stay, without an
    author (ON DELETE SET NULL), as in Gancio. Raises NotFound, LastAdmin."""
    user = _user_for_change(db, user_id)
    _check_keeps_an_admin(db, user, role=Role.USER.value, is_active=False)
    revoke_tokens_of_user(db, user.id)
    db.delete(user)
    db.flush()


# Password recovery (gancio-api.md §6): the answers never tell whether an address exists.


def start_recovery(db: Session, config: Config, email: str) -> None:
    """Mail a recovery link to the active user with this address, if there is one; silent otherwise.

    An unknown address costs the same work as a known one: a code is made, the mail is written, and a
    row is written and committed (then deleted again, in the same transaction), so the answer's timing
    does not tell whether the address has an account. A pending invitation keeps its own code.
    """
    user = find_user_by_email(db, email)
    known = user is not None and user.is_active
    code, code_digest, expires_at = _new_code(config.recover_code_lifetime)
    minutes = max(config.recover_code_lifetime // 60, 1)
    recipient = user.email if user is not None and known else DECOY_RECIPIENT
    row = enqueue(db, mails.recover(recipient, _title(db), config.base_url, code, minutes))
    if user is not None and known:
        user.recover_code, user.recover_code_expires_at = code_digest, expires_at
    else:
        db.delete(row)
    db.flush()


def _user_by_code(db: Session, code: Any) -> tuple[User, Any]:
    """The active user holding this unexpired recovery or invitation code, and the column holding it.
    Raises Invalid (Gancio's bare 400)."""
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
        raise Invalid()
    code_digest = digest(code.strip().lower())
    holds_it = or_(User.recover_code == code_digest, User.invite_code == code_digest)
    user = db.scalar(select(User).where(holds_it))
    if user is None or not user.is_active:
        raise Invalid()
    if user.recover_code == code_digest:
        column, expires_at = User.recover_code, user.recover_code_expires_at
    else:
        column, expires_at = User.invite_code, user.invite_code_expires_at
    if expires_at is None or expires_at <= utcnow():
        raise Invalid()
    return user, column


def check_recover_code(db: Session, code: Any) -> str:
    """The email of the user holding a valid code. Raises Invalid."""
    return _user_by_code(db, code)[0].email


def recover_password(db: Session, code: Any, password: Any) -> User:
    """Set a new password with a recovery or invitation code, once. Revokes every token of the user,
    ends their login sessions and drops every other pending code.

    Raises Invalid (bad or used code, bad password).
    """
    user, column = _user_by_code(db, code)
    if not isinstance(password, str) or not password:
        raise Invalid()
    validate_password(password)
    # Consume the code with a conditional UPDATE, so two requests racing with it cannot both succeed.
    code_digest = digest(code.strip().lower())
    consumed = affected_rows(
        db.execute(
            update(User)
            .where(User.id == user.id, column == code_digest)
            .values({column: None})
            .execution_options(synchronize_session=False)
        )
    )
    if consumed != 1:
        raise Invalid()
    db.refresh(user)
    set_password(db, user, password)
    return user
