import json

import pytest
from typer.testing import CliRunner

from piazza.cli import app
from tests.factories import set_setting

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, config):
    monkeypatch.setenv("PIAZZA_DATABASE_URL", config.database_url)
    monkeypatch.setenv("PIAZZA_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("PIAZZA_SECRET_KEY", config.secret_key.get_secret_value())


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("42", 42),
        ("true", True),
        ("null", None),
        ('["a", 1]', ["a", 1]),
        ('{"k": "v"}', {"k": "v"}),
        ("plain words", "plain words"),
        ('"7"', "7"),
    ],
)
def test_settings_set_parses_json_or_takes_a_string_and_get_prints_it(db, cli_env, typed, value):
    result = invoke("settings", "set", "custom", typed)
    assert result.exit_code == 0, result.output
    result = invoke("settings", "get", "custom")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == value


def test_settings_get_of_a_default(db, cli_env):
    assert json.loads(invoke("settings", "get", "instance_timezone").output) == "Europe/Rome"


def test_settings_get_masks_the_smtp_password(db, cli_env):
    set_setting(db, "smtp", {"host": "h", "auth": {"user": "u", "pass": "secret"}})
    result = invoke("settings", "get", "smtp")
    assert "secret" not in result.output and json.loads(result.output)["auth"]["pass"] == "********"


def test_settings_errors_exit_2(db, cli_env):
    assert invoke("settings", "get", "no_such_setting").exit_code == 2
    assert invoke("settings", "set", "baseurl", "https://x.example").exit_code == 2
    assert invoke("settings", "set", "smtp", "5").exit_code == 2
