import os
import stat

import pytest

from piazza.config import Config, ConfigError, load_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("PIAZZA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIAZZA_DATA_DIR", str(tmp_path / "data"))


def test_defaults_use_sqlite_in_the_data_folder(tmp_path):
    config = load_config()
    assert config.port == 13120
    assert config.host == "127.0.0.1"
    assert config.base_url == "http://127.0.0.1:13120"
    assert config.sqlalchemy_url == f"sqlite:///{tmp_path / 'data' / 'piazza.sqlite3'}"
    assert config.rate_limits is True
    assert config.log_level == "INFO"


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = load_config().secret_key.get_secret_value()
    second = load_config().secret_key.get_secret_value()
    assert first == second
    assert len(first) == 64
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_secret_key_is_hidden_in_repr(monkeypatch):
    monkeypatch.setenv("PIAZZA_SECRET_KEY", "k" * 40)
    config = load_config()
    assert "k" * 40 not in repr(config)
    assert config.secret_key.get_secret_value() == "k" * 40


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PIAZZA_PORT", "eighty"),
        ("PIAZZA_PORT", "70000"),
        ("PIAZZA_WORKERS", "0"),
        ("PIAZZA_BASE_URL", "ftp://example.org"),
        ("PIAZZA_BASE_URL", "not a url"),
        ("PIAZZA_DATABASE_URL", "mysql://x"),
        ("PIAZZA_SECRET_KEY", "short"),
        ("PIAZZA_LOG_LEVEL", "LOUD"),
        ("PIAZZA_RATE_LIMITS", "sometimes"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_config()
    if name != "PIAZZA_SECRET_KEY":
        assert name in str(error.value)
    else:
        assert "secret_key" in str(error.value)


def test_toml_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    toml = tmp_path / "piazza.toml"
    toml.write_text('base_url = "https://agenda.example.org/"\nport = 9000\nlog_level = "debug"\n')
    monkeypatch.setenv("PIAZZA_CONFIG", str(toml))
    monkeypatch.setenv("PIAZZA_PORT", "9001")
    config = load_config()
    assert config.base_url == "https://agenda.example.org"
    assert config.port == 9001
    assert config.log_level == "DEBUG"
    assert config.is_https


def test_missing_toml_file_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("PIAZZA_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="PIAZZA_CONFIG"):
        load_config()


def test_rate_limits_off(monkeypatch):
    monkeypatch.setenv("PIAZZA_RATE_LIMITS", "off")
    assert load_config().rate_limits is False


def test_postgres_urls_use_psycopg():
    config = Config(database_url="postgres://u@h/db")
    assert config.sqlalchemy_url == "postgresql+psycopg://u@h/db"


def test_unknown_key_in_toml_file_is_refused(monkeypatch, tmp_path):
    toml = tmp_path / "piazza.toml"
    toml.write_text("prot = 9000\n")
    monkeypatch.setenv("PIAZZA_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="PIAZZA_PROT"):
        load_config()
