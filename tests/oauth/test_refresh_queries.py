"""The refresh grant's SQL: a fixed handful of statements, each one a lookup by key (issue 7: the refresh
grant must stay cheap however many tokens the table holds)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from tests.oauth.flow import tokens_for
from tests.oauth.test_refresh_rotation import refresh


@contextmanager
def recorded_statements(db: Any, *, writes_only: bool = False):
    """The statements (with their parameters) run inside the block: by every connection, or only by the
    write connection (on SQLite; PostgreSQL has one engine for both)."""
    statements: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")) or "outbox" in statement:
            return  # the mail worker's poll runs on its own schedule
        statements.append((statement, parameters))

    engines = {db.write_engine} if writes_only else {db.write_engine, db.read_engine}
    for engine in engines:
        sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            sa_event.remove(engine, "before_cursor_execute", record)


def full_scans(db: Any, statements: list[tuple[str, Any]]) -> list[str]:
    """SQLite's plan lines that read a whole table instead of searching an index."""
    scans = []
    with db.write_engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            scans += [f"{row[-1]} in {statement}" for row in plan if str(row[-1]).startswith("SCAN")]
    return scans


def test_a_refresh_is_six_statements_each_a_lookup_by_key(client, db, is_postgres):
    app_client, secret, first = tokens_for(client, db)
    with recorded_statements(db) as statements:
        response = refresh(client, app_client, secret, first["refresh_token"])
    assert response.status_code == 200
    # The client, the refresh token, its claim, the user, the new token, the consent's last use.
    assert len(statements) == 6, statements
    if not is_postgres:
        assert full_scans(db, statements) == []


def test_the_client_is_read_before_the_write_transaction(client, db, is_postgres):
    if is_postgres:
        pytest.skip("one engine reads and writes on PostgreSQL")
    app_client, secret, first = tokens_for(client, db)
    with recorded_statements(db, writes_only=True) as statements:
        response = refresh(client, app_client, secret, first["refresh_token"])
    assert response.status_code == 200
    # The write lock is held for these five; the client's lookup ran before it was taken.
    assert len(statements) == 5, statements
    assert not any("FROM oauth_clients" in statement for statement, _ in statements)


def test_a_replayed_refresh_token_revokes_its_family_by_key(client, db, is_postgres):
    app_client, secret, first = tokens_for(client, db)
    assert refresh(client, app_client, secret, first["refresh_token"]).status_code == 200
    with recorded_statements(db) as statements:
        response = refresh(client, app_client, secret, first["refresh_token"])
    assert response.status_code == 400
    assert any("family_id" in statement for statement, _ in statements)
    if not is_postgres:
        assert full_scans(db, statements) == []
    with db.write_engine.connect() as conn:
        live = conn.execute(text("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL")).scalar()
    assert live == 0
