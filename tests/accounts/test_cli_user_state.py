"""`piazza users enable|disable|delete` and `piazza settings list` (Gancio's CLI parity, issue 20)."""

import json

import pytest
from typer.testing import CliRunner

from piazza.accounts.models import User
from piazza.cli import app
from piazza.oauth.models import Token
from tests.factories import make_event, make_token, make_user, outbox, set_setting

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, config):
    monkeypatch.setenv("PIAZZA_DATABASE_URL", config.database_url)
    monkeypatch.setenv("PIAZZA_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("PIAZZA_SECRET_KEY", config.secret_key.get_secret_value())


def invoke(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def stored(db, email):
    with db.session(write=False) as s:
        return s.query(User).filter_by(email=email).one_or_none()


def live_tokens(db, user_id):
    with db.session(write=False) as s:
        return s.query(Token).filter(Token.user_id == user_id, Token.revoked_at.is_(None)).count()


def test_disable_revokes_tokens_and_enable_lets_the_user_back_with_a_mail(db, cli_env):
    user = make_user(db, "ada@example.org")
    make_token(db, user)
    result = invoke("users", "disable", "Ada@Example.org")
    assert result.exit_code == 0, result.output
    assert "User Ada@Example.org is disabled" in result.output
    assert stored(db, "ada@example.org").is_active is False
    assert live_tokens(db, user.id) == 0
    result = invoke("users", "enable", "ada@example.org")
    assert result.exit_code == 0, result.output
    assert stored(db, "ada@example.org").is_active is True
    assert [m["recipient"] for m in outbox(db)] == ["ada@example.org"]


def test_disable_or_delete_the_last_admin_is_refused_with_a_clear_error(db, cli_env):
    make_user(db, "root@example.org", role="admin")
    for args in (("users", "disable", "root@example.org"), ("users", "delete", "root@example.org", "--yes")):
        result = invoke(*args)
        assert result.exit_code == 2
        assert "Error: the instance must keep at least one active admin" in result.output
    assert stored(db, "root@example.org").is_active is True


def test_unknown_user_is_a_clear_error(db, cli_env):
    for command in ("enable", "disable"):
        result = invoke("users", command, "nobody@example.org")
        assert result.exit_code == 2
        assert "Error: User 'nobody@example.org' not found" in result.output
    result = invoke("users", "delete", "nobody@example.org", "--yes")
    assert result.exit_code == 2 and "not found" in result.output


def test_delete_asks_first_and_keeps_the_events_without_an_author(db, cli_env):
    user = make_user(db, "bob@example.org")
    event = make_event(db, user)
    result = invoke("users", "delete", "bob@example.org", stdin="n\n")
    assert result.exit_code == 2 and stored(db, "bob@example.org") is not None
    result = invoke("users", "delete", "bob@example.org", stdin="y\n")
    assert result.exit_code == 0, result.output
    assert stored(db, "bob@example.org") is None
    from piazza.events.models import Event

    with db.session(write=False) as s:
        assert s.get(Event, event["id"]).user_id is None


def test_settings_list_prints_every_setting_as_json_without_secrets(db, cli_env, config):
    set_setting(db, "title", "Torino")
    set_setting(db, "smtp", {"host": "mail.example", "auth": {"user": "u", "pass": "hunter2"}})
    set_setting(db, "some_secret", "s3cret", is_secret=True)
    result = invoke("settings", "list")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)
    assert settings["title"] == "Torino"
    assert "baseurl" in settings
    assert "some_secret" not in settings
    assert "hunter2" not in result.output and "s3cret" not in result.output
