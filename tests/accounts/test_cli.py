import pytest
from typer.testing import CliRunner

from piazza.accounts.models import User
from piazza.accounts.passwords import verify_password
from piazza.cli import app
from tests.factories import make_token, make_user

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


def test_users_create_admin_with_password_from_stdin(db, cli_env):
    result = invoke(
        "users", "create", "Ada@Example.org", "--admin", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert 'User "ada@example.org" created with role admin' in result.output
    user = stored(db, "ada@example.org")
    assert user.role == "admin" and user.is_active
    assert verify_password("s3cret-pass", user.password)[0]
    assert "s3cret-pass" not in result.output


def test_users_create_without_password_shows_a_generated_one(db, cli_env):
    result = invoke("users", "create", "bob@example.org")
    assert result.exit_code == 0, result.output
    password = result.output.split("Password: ")[1].strip()
    assert verify_password(password, stored(db, "bob@example.org").password)[0]


def test_users_create_twice_is_a_clear_error(db, cli_env):
    make_user(db, "dup@example.org")
    result = invoke("users", "create", "dup@example.org")
    assert result.exit_code == 2
    assert "email_taken" in result.output


def test_users_create_with_bad_role_fails(db, cli_env):
    result = invoke("users", "create", "x@example.org", "--role", "king")
    assert result.exit_code == 2
    assert "Unknown role" in result.output
    assert stored(db, "x@example.org") is None


def test_users_list_shows_every_user(db, cli_env):
    make_user(db, "one@example.org")
    make_user(db, "two@example.org", role="editor")
    result = invoke("users", "list")
    assert result.exit_code == 0
    assert "one@example.org" in result.output and "two@example.org" in result.output
    assert "editor" in result.output


def test_users_set_role(db, cli_env):
    make_user(db, "r@example.org")
    result = invoke("users", "set-role", "r@example.org", "editor")
    assert result.exit_code == 0, result.output
    assert stored(db, "r@example.org").role == "editor"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "set-role", "ghost@example.org", "admin"), "not found"),
        (("users", "set-role", "r@example.org", "boss"), "Unknown role"),
        (("users", "reset-password", "ghost@example.org"), "not found"),
    ],
)
def test_users_commands_fail_clearly(db, cli_env, args, message):
    make_user(db, "r@example.org")
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert stored(db, "r@example.org").role == "user"


def test_users_reset_password_sets_a_new_one_and_revokes_tokens(db, client, cli_env):
    user = make_user(db, "p@example.org")
    token = make_token(db, user)
    assert client.get("/api/user", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = invoke("users", "reset-password", "p@example.org")
    assert result.exit_code == 0, result.output
    password = result.output.split("Password: ")[1].strip()
    assert verify_password(password, stored(db, "p@example.org").password)[0]
    assert client.get("/api/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_bad_configuration_exits_2_naming_the_variable(cli_env, monkeypatch):
    monkeypatch.setenv("PIAZZA_PORT", "not-a-port")
    result = invoke("users", "list")
    assert result.exit_code == 2
    assert "PIAZZA_PORT" in result.output


def test_migrate_check_reports_no_drift(cli_env):
    result = invoke("migrate", "--check")
    assert result.exit_code == 0, result.output
