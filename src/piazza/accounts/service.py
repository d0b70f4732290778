"""User rules: creation, lookup, roles, passwords. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from piazza.accounts.models import Role, User
from piazza.accounts.passwords import (
    MIN_PASSWORD_LENGTH,
    burn_verification_time,
    hash_password,
    verify_password,
)
from piazza.db import Database
from piazza.errors import Conflict, Invalid, NotFound
from piazza.oauth.tokens import revoke_tokens_of_user


def normalise_email(email: str) -> str:
    return email.strip().lower()


def validate_role(role: str) -> Role:
    """Raises Invalid for anything but admin, editor or user."""
    try:
        return Role(role)
    except ValueError:
        raise Invalid(f"Unknown role '{role}': use admin, editor or user", field="role") from None


def validate_password(password: str) -> None:
    """Raises Invalid when the password is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")


def find_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalise_email(email)))


def get_user(db: Session, user_id: int) -> User:
    """Raises NotFound."""
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("User not found!")
    return user


def get_user_by_email(db: Session, email: str) -> User:
    """Raises NotFound."""
    user = find_user_by_email(db, email)
    if user is None:
        raise NotFound(f"User '{email}' not found")
    return user


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id)))


def list_users_for_admin(db: Session) -> list[User]:
    """Admins first, then the newest (the order Gancio intends, gancio-api.md §6)."""
    admins_first = case((User.role == Role.ADMIN.value, 0), else_=1)
    return list(db.scalars(select(User).order_by(admins_first, User.created_at.desc(), User.id.desc())))


def create_user(
    db: Session,
    email: str,
    *,
    password: str | None = None,
    role: Role | str = Role.USER,
    is_active: bool = True,
    description: str | None = None,
) -> User:
    """Raises Invalid for a bad email, role or password, Conflict when the email is taken."""
    email = normalise_email(email)
    if not email or len(email) > 255:
        raise Invalid("email required", field="email")
    role = validate_role(role)
    if password is not None:
        validate_password(password)
    if find_user_by_email(db, email) is not None:
        raise Conflict("error.email_taken")
    user = User(
        email=email,
        password=hash_password(password) if password is not None else None,
        role=role.value,
        is_active=is_active,
        description=description,
        settings=[],
    )
    try:
        # Two requests racing for one address on PostgreSQL: the unique constraint decides, and the
        # loser gets the same answer as if it had come second.
        with db.begin_nested():
            db.add(user)
    except IntegrityError:
        raise Conflict("error.email_taken") from None
    return user


def set_role(db: Session, user: User, role: Role | str) -> User:
    """Raises Invalid for an unknown role."""
    user.role = validate_role(role).value
    return user


def set_password(db: Session, user: User, password: str) -> User:
    """Store a new password; revoke every token of the user, end every login session, and drop pending
    recovery and invitation codes (a link mailed before must not set yet another password).
    Raises Invalid when too short."""
    validate_password(password)
    user.password = hash_password(password)
    user.session_generation = (user.session_generation or 0) + 1
    user.recover_code = user.recover_code_expires_at = None
    user.invite_code = user.invite_code_expires_at = None
    revoke_tokens_of_user(db, user.id)
    return user


@dataclass(frozen=True)
class CheckedPassword:
    """A password found right for a user, and the hash it was checked against."""

    user_id: int
    password_hash: str
    upgraded_hash: str | None  # argon2 for a legacy bcrypt hash


def _login_row(db: Session, email: str) -> Any:
    return db.execute(
        select(User.id, User.password, User.is_active).where(User.email == normalise_email(email))
    ).first()


async def check_password(database: Database, email: str, password: str) -> CheckedPassword | None:
    """The slow half of a login, outside any transaction: argon2 takes tens of milliseconds, and inside
    the login's write transaction it held SQLite's single write lock, so every worker's writes waited
    behind every login. An unknown or inactive user costs the same time as a wrong password."""
    row = await database.read_small(_login_row, email)
    if row is None or not row.is_active:
        await run_in_threadpool(burn_verification_time, password)
        return None
    ok, upgraded = await run_in_threadpool(verify_password, password, row.password)
    return CheckedPassword(row.id, row.password, upgraded) if ok else None


def confirm_login(db: Session, checked: CheckedPassword | None) -> User | None:
    """The other half, in the login's write transaction: the user is still active with the password
    that was checked (a password changed in between fails the login); a legacy hash is upgraded."""
    if checked is None:
        return None
    user = db.get(User, checked.user_id)
    if user is None or not user.is_active or user.password != checked.password_hash:
        return None
    if checked.upgraded_hash:
        user.password = checked.upgraded_hash
    return user
