"""The `piazza` command. Config is loaded only when a command runs, and every command calls the same
service functions as the API, each in one transaction."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from piazza.config import ENV_PREFIX, Config, ConfigError, load_config
from piazza.errors import PiazzaError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from piazza.importer.report import ImportReport

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
        from piazza.durable import make_directory

        make_directory(config.data_dir)  # the folder of the database survives a power cut too
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
        # this subclass of uvicorn's protocol bounds the size and time of a request head, the time of a
        # body, and the connections of one address, and keeps waiting connections from filling the
        # budget below (piazza/http_protocol.py says how).
        http="piazza.http_protocol:BoundedHttpToolsProtocol",
        # asyncio's loop rather than uvloop, accepting a few connections per wake-up (piazza/event_loop.py
        # says why). Our requests spend their time in Python, where uvloop gained nothing measurable.
        loop="piazza.event_loop:ServingEventLoop",
        h11_max_incomplete_event_size=config.max_header_size,  # the limit BoundedHttpToolsProtocol reads
        # Idle keep-alive connections are closed after this; each connection is its own asyncio task, so a
        # client that stalls mid-request holds one socket and blocks nobody else.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # Beyond this many open connections per worker uvicorn answers 503 instead of running out of file
        # descriptors; connections that only wait for a head are closed first to make room (oldest
        # first, BoundedHttpToolsProtocol). A reverse proxy in front should queue below it.
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


def _set_active(email: str, active: bool) -> None:
    from piazza.accounts.people import update_user
    from piazza.accounts.service import get_user_by_email

    config = _config()
    try:
        with _session(config) as db:
            update_user(db, config, get_user_by_email(db, email).id, {"is_active": active})
    except PiazzaError as exc:
        raise _fail(exc.message) from None


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Activate a user (they are mailed that they can log in, as when an admin activates them)."""
    _set_active(email, True)
    console.print(f"User {email} is enabled")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Deactivate a user: they cannot log in and every token of the user is revoked."""
    _set_active(email, False)
    console.print(f"User {email} is disabled; every token of the user was revoked.")


@users_app.command("delete")
def users_delete(
    email: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user and their tokens; their events stay, without an author."""
    from piazza.accounts.people import delete_user
    from piazza.accounts.service import get_user_by_email

    if not yes and not typer.confirm(f"Delete user {email}?"):
        raise _fail("not deleted")
    config = _config()
    try:
        with _session(config) as db:
            delete_user(db, get_user_by_email(db, email).id)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    console.print(f"User {email} deleted")


@settings_app.command("list")
def settings_list() -> None:
    """Print every setting as one JSON object (secret settings left out, the SMTP password masked)."""
    import json

    from piazza.instance.service import settings_for_admin

    config = _config()
    with _session(config, write=False) as db:
        settings = settings_for_admin(db, config.base_url)
    typer.echo(json.dumps(settings, ensure_ascii=False, indent=2, sort_keys=True))


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


@app.command("import-gancio")
def import_gancio(
    source: Annotated[str, typer.Argument(help="Gancio's SQLite file, or a postgresql:// or mysql:// URL.")],
    media: Annotated[Path, typer.Option("--media", help="Gancio's uploads folder.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check everything; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the users, events and everything else already there.")
    ] = False,
    gancio_config: Annotated[
        Path | None,
        typer.Option(help="Gancio's config.json, for its base URL (default: beside the uploads folder)."),
    ] = None,
) -> None:
    """Import a whole Gancio instance: people, events, places, tags, settings, apps and federation."""
    from sqlalchemy.exc import SQLAlchemyError

    from piazza.db import Database
    from piazza.importer.service import ImportOptions, import_gancio, read_gancio_config
    from piazza.importer.source import open_source

    config = _config()
    if not media.is_dir():
        raise _fail(f"{media}: not a folder (give Gancio's uploads folder with --media)")
    config_path = gancio_config or media.resolve().parent / "config.json"
    try:
        base_url = read_gancio_config(config_path).get("baseurl") if config_path.is_file() else None
        if gancio_config is not None and not config_path.is_file():
            raise _fail(f"{config_path}: no such file")
        if not dry_run:
            _migrate(config)
        else:
            from piazza.db.migrate import schema_differences

            if schema_differences(config.sqlalchemy_url):
                raise _fail(
                    "the Piazza database is not migrated: run `piazza migrate` first "
                    "(a dry run writes nothing, not even the schema)"
                )
        gancio = open_source(source)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    database = Database(config.sqlalchemy_url, pool_size=1)
    options = ImportOptions(
        media_dir=media,
        dry_run=dry_run,
        force=force,
        gancio_base_url=base_url if isinstance(base_url, str) else None,
    )
    try:
        with _TableProgress() as progress:
            report = import_gancio(gancio, database, config, options, progress)
    except PiazzaError as exc:
        raise _fail(exc.message) from None
    except (SQLAlchemyError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"the import failed and nothing was written: {first_line}") from None
    finally:
        gancio.close()
        database.dispose()
    _print_report(report)


class _TableProgress:
    """A rich progress bar per table for the importer."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bars = Progress(
            TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        )  # fmt: skip
        self._task: object | None = None

    def __enter__(self) -> _TableProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def start(self, table: str, total: int) -> None:
        self._task = self._bars.add_task(table, total=total)

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._bars.advance(self._task, count)  # type: ignore[arg-type]


def _print_report(report: ImportReport) -> None:
    title = "Dry run: nothing was written" if report.dry_run else "Imported"
    if report.gancio_version:
        title += f" (Gancio's last migration: {report.gancio_version})"
    table = Table("table", "read", "imported", "skipped", title=title)
    for name, counts in report.tables.items():
        table.add_row(name, str(counts.read), str(counts.imported), str(len(counts.skipped)))
    console.print(table)
    console.print(
        f"Media: {report.files_copied} files {'checked' if report.dry_run else 'copied'}, "
        f"{report.thumbnails_made} thumbnails made, {len(report.files_missing)} missing."
    )
    for name, counts in report.tables.items():
        for row, reason in counts.skipped:
            console.print(f"skipped {name} {row}: {reason}")
    for note in report.notes:
        console.print(f"note: {note}")
    for warning in report.warnings:
        errors.print(f"[yellow]Warning:[/yellow] {warning}")


def main() -> None:
    app()
