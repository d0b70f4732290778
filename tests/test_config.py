import os
import stat
import subprocess
import sys

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


def test_concurrent_first_starts_all_end_up_with_the_same_complete_key(tmp_path):
    # Several workers (processes, so nothing in-process serializes them) create the key at once; making
    # the key is slowed down, so the others look while the first is still at it.
    script = (
        "import secrets, sys, time\n"
        "make = secrets.token_hex\n"
        "secrets.token_hex = lambda n: (time.sleep(0.5), make(n))[1]\n"
        "from piazza.config import load_config\n"
        "sys.stdout.write(load_config().secret_key.get_secret_value())\n"
    )
    for round_number in range(3):
        data_dir = tmp_path / f"round{round_number}"
        env = {**os.environ, "PIAZZA_DATA_DIR": str(data_dir)}
        workers = [
            subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
            for _ in range(6)
        ]
        keys = {worker.communicate(timeout=120)[0] for worker in workers}
        assert all(worker.returncode == 0 for worker in workers)
        assert len(keys) == 1
        (key,) = keys
        assert len(key) == 64
        assert (data_dir / "secret_key").read_text().strip() == key
        assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]  # no temporary file left


def test_the_key_file_and_its_folder_are_fsynced_before_the_key_is_used(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        synced.append("dir" if os.path.isdir(path) else "file:" + os.path.basename(path))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    load_config()
    files = [entry for entry in synced if entry.startswith("file:")]
    assert files and files[0].startswith("file:.secret_key-")  # the content, before it gets its name
    assert synced.index(files[0]) < len(synced) - 1
    assert synced[-1] == "dir"  # then the folder holding the new name
    assert synced.count("dir") >= 2  # the new data folder was recorded in its parent too


@pytest.mark.parametrize("content", ["", "\n", "abc\n", "\x00" * 64])
def test_an_empty_or_damaged_key_file_stops_with_a_clear_message_naming_it(tmp_path, content):
    key_file = tmp_path / "data" / "secret_key"
    key_file.parent.mkdir()
    key_file.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_config()
    assert str(key_file) in str(error.value)
    assert "delete it" in str(error.value)
    assert key_file.read_text() == content  # left for the operator to restore, never overwritten


def test_a_file_system_without_hard_links_still_gets_a_durable_key(tmp_path, monkeypatch):
    import errno

    def no_links(*args: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    key = load_config().secret_key.get_secret_value()
    data_dir = tmp_path / "data"
    assert len(key) == 64 and (data_dir / "secret_key").read_text().strip() == key
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]
    assert load_config().secret_key.get_secret_value() == key
