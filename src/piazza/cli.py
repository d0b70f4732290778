"""The `piazza` command. Config is loaded only when a command runs, and every command calls the same
service functions as the API, each in one transaction."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from piazza.config import ENV_PREFIX, Config, ConfigError, load_config
from piazza.errors import PiazzaError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# uvicorn settings for `piazza serve` (see the comments at the uvicorn.run call).
KEEP_ALIVE_SECONDS = 5
CONCURRENCY_LIMIT = 1000
GRACEFUL_SHUTDOWN_SECONDS = 30

app = typer.Typer(help="Piazza: a shared agenda for local communities.", no_args_is_help=True)
users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
settings_app = typer.Typer(help="Read and change instance settings.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")

console = Console()
errors = Console(stderr=True)


def _config() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        errors.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _session(config: Config, *, write: bool = True) -> Iterator[Session]:
    """One transaction on the configured database, for one command."""
    from piazza.db import Database

    database = Database(config.sqlalchemy_url, pool_size=1)
    try:
        with database.session(write=write) as session:
            yield session
    finally:
        database.dispose()


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]Error:[/red] {message}")
    return typer.Exit(2)


def _migrate(config: Config) -> None:
    from piazza.db.migrate import refresh_statistics, upgrade

    if config.sqlalchemy_url.startswith("sqlite"):
        config.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(config.sqlalchemy_url)
    refresh_statistics(config.sqlalchemy_url)


@app.command()
def migrate(
    check: Annotated[bool, typer.Option(help="Only report drift between models and schema.")] = False,
) -> None:
    """Apply the database migrations (alembic upgrade head)."""
    config = _config()
    if check:
        from piazza.db.migrate import schema_differences

        differences = schema_differences(config.sqlalchemy_url)
        if differences:
            for difference in differences:
                errors.print(str(difference))
            raise typer.Exit(1)
        console.print("The schema matches the models.")
        return
    _migrate(config)
    console.print("Database is up to date.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides PIAZZA_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides PIAZZA_PORT.")] = None,
    workers: Annotated[int | None, typer.Option(help="Overrides PIAZZA_WORKERS.")] = None,
) -> None:
    """Apply migrations, then serve HTTP with uvicorn."""
    import uvicorn

    from piazza.logging_setup import configure_logging

    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"{ENV_PREFIX}{name}"] = str(value)
    config = _config()
    # Workers read the key file written here rather than racing to create it.
    os.environ[f"{ENV_PREFIX}SECRET_KEY"] = config.secret_key.get_secret_value()
    configure_logging(config.log_level)
    _migrate(config)
    console.print(f"Piazza serving {config.base_url} on http://{config.host}:{config.port}")
    uvicorn.run(
        "piazza.app:app_from_environment",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        log_level=config.log_level.lower(),
        # uvicorn's access log prints full query strings, which carry OAuth codes and state; Piazza writes
        # its own (piazza.middleware, PIAZZA_ACCESS_LOG).
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # Request limits below the app (docs, "Rate limits and request limits"). httptools parses in C;
        # this subclass of uvicorn's protocol answers 431 and closes once an unfinished request head
        # passes the limit below (plain httptools buffers a head of any size). A head that arrives whole
        # in one socket read is parsed anyway; the app's own header cap (431) catches that.
        http="piazza.http_protocol:BoundedHttpToolsProtocol",
        # asyncio's loop rather than uvloop, accepting a few connections per wake-up (piazza/event_loop.py
        # says why). Our requests spend their time in Python, where uvloop gained nothing measurable.
        loop="piazza.event_loop:ServingEventLoop",
        h11_max_incomplete_event_size=config.max_header_size,  # the limit BoundedHttpToolsProtocol reads
        # Idle keep-alive connections are closed after this; each connection is its own asyncio task, so a
        # client that stalls mid-request holds one socket and blocks nobody else.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # Beyond this many open connections per worker uvicorn answers 503 instead of running out of file
        # descriptors; a reverse proxy in front should queue below it.
        limit_concurrency=CONCURRENCY_LIMIT,
        # On shutdown, requests in flight get this long to finish before their connections are cut.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@users_app.command("create")
def users_create(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    role: Annotated[str | None, typer.Option(help="admin, editor or user.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create an active user. Without --password-stdin a random password is generated and shown once."""
    from piazza.accounts.passwords import generate_password
    from piazza.accounts.service import create_user

    if admin and role not in (None, "admin"):
        raise _fail("--admin and --role disagree")
    chosen_role = "admin" if admin else (role or "user")
    generated = not password_stdin
    password = generate_password() if generated else sys.stdin.readline().rstrip("\r\n")
    config = _config()
    try:
        with _session(config) as db:
            user = create_user(db, email, password=password, role=chosen_role, is_active=True)
            email_stored, role_stored = user.email, user.role
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    console.print(f'User "{email_stored}" created with role {role_stored}')
    if generated:
        console.print(f"Password: {password}")


@users_app.command("list")
def users_list() -> None:
    """List every user."""
    from piazza.accounts.service import list_users

    config = _config()
    with _session(config, write=False) as db:
        rows = [(u.id, u.email, u.role, u.is_active) for u in list_users(db)]
    table = Table("id", "email", "role", "active")
    for user_id, email, role, active in rows:
        table.add_row(str(user_id), email, role, "yes" if active else "no")
    console.print(table)


@users_app.command("set-role")
def users_set_role(email: str, role: str) -> None:
    """Change a user's role (admin, editor or user)."""
    from piazza.accounts.service import get_user_by_email, set_role

    config = _config()
    try:
        with _session(config) as db:
            set_role(db, get_user_by_email(db, email), role)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    console.print(f"User {email} role is now {role}")


@users_app.command("reset-password")
def users_reset_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Set a new password (random unless --password-stdin) and revoke the user's tokens."""
    from piazza.accounts.passwords import generate_password
    from piazza.accounts.service import get_user_by_email, set_password

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else generate_password()
    config = _config()
    try:
        with _session(config) as db:
            set_password(db, get_user_by_email(db, email), password)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    console.print(f"New password for user {email} is set; every token of the user was revoked.")
    if not password_stdin:
        console.print(f"Password: {password}")


@settings_app.command("get")
def settings_get(key: str) -> None:
    """Print one setting as JSON (the SMTP password masked, as in the API)."""
    import json

    from piazza.instance.service import get_setting_for_admin

    config = _config()
    try:
        with _session(config, write=False) as db:
            value = get_setting_for_admin(db, config.base_url, key)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    typer.echo(json.dumps(value, ensure_ascii=False))


@settings_app.command("set")
def settings_set(key: str, value: str) -> None:
    """Store a setting. VALUE is read as JSON when it is valid JSON (42, true, null, [..], {..}, "..."),
    otherwise as a plain string."""
    import json

    from piazza.instance.service import update_setting

    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    config = _config()
    try:
        with _session(config) as db:
            update_setting(db, key, parsed)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    console.print(f"Setting {key} saved.")


def main() -> None:
    app()
