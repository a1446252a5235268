"""Settings: one TOML file plus APPLIANCE_* overrides, validated into one frozen object."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.errors import SettingsError
from appliance.settings import (
    SYSTEM_CONFIG,
    SYSTEM_RUNTIME_DIR,
    Settings,
    build_settings,
    find_config_path,
    load_settings,
    render_config,
)

MINIMAL = """
database_url = "sqlite+pysqlcipher:///appliance.db"
master_key_file = "master.key"
data_dir = "."
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "etc"
    directory.mkdir()
    return directory


def write_config(directory: Path, extra: str = "", base: str = MINIMAL) -> Path:
    path = directory / "appliance.toml"
    path.write_text(base + extra, "utf-8")
    return path


def load(path: Path, **env: str) -> Settings:
    return load_settings(environ={f"APPLIANCE_{k.upper()}": v for k, v in env.items()}, config_path=path)


def refused(path: Path, **env: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load(path, **env)
    return caught.value


# loading ---------------------------------------------------------------------------------

def test_minimal_file_gives_documented_defaults(config_dir: Path) -> None:
    path = write_config(config_dir)
    settings = load(path)
    assert settings.config_path == path
    assert settings.log_retention_days == 90
    assert settings.backup_retention_days == 30
    assert settings.backup_sites == ()
    assert settings.backup_dir is None
    assert settings.cookie_secure is True
    assert settings.is_embedded
    assert settings.backend == "sqlite+pysqlcipher"


def test_relative_paths_resolve_against_the_config_directory(config_dir: Path) -> None:
    settings = load(write_config(config_dir, 'backup_dir = "../backups"\n'))
    assert settings.master_key_file == config_dir / "master.key"
    assert settings.data_dir == config_dir
    assert settings.backup_dir == config_dir.parent / "backups"
    assert settings.database_url == f"sqlite+pysqlcipher:///{config_dir / 'appliance.db'}"


def test_absolute_paths_are_kept(config_dir: Path, tmp_path: Path) -> None:
    base = (f'database_url = "sqlite+pysqlcipher:///{tmp_path}/x.db"\n'
            f'master_key_file = "{tmp_path}/k"\ndata_dir = "{tmp_path}/d"\n')
    settings = load(write_config(config_dir, base=base))
    assert settings.database_url == f"sqlite+pysqlcipher:///{tmp_path}/x.db"
    assert settings.master_key_file == tmp_path / "k"
    assert settings.data_dir == tmp_path / "d"


def test_typed_toml_values(config_dir: Path) -> None:
    settings = load(write_config(config_dir, """
base_url = "https://whistle.example.com"
smtp_url = "smtp+starttls://mail.example.com:587"
backup_sites = ["/mnt/nfs/appliance", "s3:https://s3.example.com/bucket"]
log_retention_days = 120
cookie_secure = false
default_language = "sv"
"""))
    assert settings.base_url == "https://whistle.example.com"
    assert settings.smtp_url == "smtp+starttls://mail.example.com:587"
    assert settings.backup_sites == ("/mnt/nfs/appliance", "s3:https://s3.example.com/bucket")
    assert settings.log_retention_days == 120
    assert settings.cookie_secure is False
    assert settings.default_language == "sv"


def test_upper_case_keys_in_the_file_are_accepted(config_dir: Path) -> None:
    settings = load(write_config(config_dir, "LOG_RETENTION_DAYS = 7\n"))
    assert settings.log_retention_days == 7


def test_environment_overrides_the_file(config_dir: Path, tmp_path: Path) -> None:
    path = write_config(config_dir, "log_retention_days = 120\nbase_url = \"https://a.example\"\n")
    settings = load(
        path,
        log_retention_days="45",
        base_url="https://b.example",
        cookie_secure="no",
        backup_sites="/a, /b,,  ",
        master_key_file=str(tmp_path / "elsewhere.key"),
    )
    assert settings.log_retention_days == 45
    assert settings.base_url == "https://b.example"
    assert settings.cookie_secure is False
    assert settings.backup_sites == ("/a", "/b")
    assert settings.master_key_file == tmp_path / "elsewhere.key"


@pytest.mark.parametrize(("text", "value"), [("1", True), ("TRUE", True), ("on", True), ("yes", True),
                                             ("0", False), ("False", False), ("off", False), ("no", False)])
def test_booleans_from_the_environment(config_dir: Path, text: str, value: bool) -> None:
    assert load(write_config(config_dir), cookie_secure=text).cookie_secure is value


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    settings = load(
        tmp_path / "missing.toml",
        database_url="postgresql+psycopg://app@db.example/appliance?sslmode=verify-full",
        master_key_file=str(tmp_path / "master.key"),
        data_dir=str(tmp_path),
    )
    assert settings.backend == "postgresql+psycopg"
    assert settings.config_path is None


def test_unrelated_environment_is_ignored(config_dir: Path) -> None:
    settings = load_settings(environ={"HOME": "/root", "APPLIANCE_CONFIG": "/nowhere", "PATH": "/bin"},
                             config_path=write_config(config_dir))
    assert settings.log_retention_days == 90


def test_settings_are_frozen(config_dir: Path) -> None:
    settings = load(write_config(config_dir))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.log_retention_days = 1  # type: ignore[misc]


def test_render_config_round_trips(tmp_path: Path) -> None:
    values = {"database_url": "sqlite+pysqlcipher:///appliance.db", "master_key_file": "master.key",
              "data_dir": ".", "cookie_secure": False, "workers": 3, "backup_sites": ["/a", 'b "q"'],
              "base_url": "https://x.example/\\path"}
    path = tmp_path / "appliance.toml"
    path.write_text(render_config(values), "utf-8")
    settings = load(path)
    assert settings.cookie_secure is False
    assert settings.workers == 3
    assert settings.backup_sites == ("/a", 'b "q"')
    assert settings.base_url == "https://x.example/\\path"


# refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("extra", "env", "name"),
    [
        ('log_retention_days = "ninety"\n', {}, "LOG_RETENTION_DAYS"),
        ("", {"backup_retention_days": "30d"}, "BACKUP_RETENTION_DAYS"),
        ("", {"workers": ""}, "WORKERS"),
        ("log_retention_days = -1\n", {}, "LOG_RETENTION_DAYS"),
        ("workers = 2.5\n", {}, "WORKERS"),
        ("workers = true\n", {}, "WORKERS"),
        ("", {"cookie_secure": "maybe"}, "COOKIE_SECURE"),
        ('cookie_secure = "sometimes"\n', {}, "COOKIE_SECURE"),
        ("backup_sites = [1, 2]\n", {}, "BACKUP_SITES"),
        ("backup_sites = 5\n", {}, "BACKUP_SITES"),
        ("base_url = 8000\n", {}, "BASE_URL"),
        ("retention_dayz = 3\n", {}, "RETENTION_DAYZ"),
        ("", {"database_url": "mysql://root@localhost/appliance"}, "DATABASE_URL"),
        ("", {"database_url": "sqlite:///appliance.db"}, "DATABASE_URL"),
        ("", {"database_url": "postgresql://app@db/appliance"}, "DATABASE_URL"),
        ("", {"database_url": "not a url"}, "DATABASE_URL"),
        ('base_url = "whistle.example.com"\n', {}, "BASE_URL"),
        ('base_url = "ftp://whistle.example.com"\n', {}, "BASE_URL"),
        ('base_url = "https://"\n', {}, "BASE_URL"),
        ("", {"base_url": "javascript:alert(1)"}, "BASE_URL"),
        ('smtp_url = "http://mail.example.com"\n', {}, "SMTP_URL"),
        ('smtp_url = "smtp://relay:s3cret@mail.example.com:25"\n', {}, "SMTP_URL"),
        ("", {"smtp_url": "smtp://relay@mail.example.com"}, "SMTP_URL"),
        ("lockout_max_seconds = 86400\n", {}, "LOCKOUT_MAX_SECONDS"),
        ("lockout_max_seconds = 10\n", {}, "LOCKOUT_MAX_SECONDS"),
        ("lockout_case_key_seconds = 7200\n", {}, "LOCKOUT_CASE_KEY_SECONDS"),
        ("lockout_client_threshold = 0\n", {}, "LOCKOUT_CLIENT_THRESHOLD"),
        ("report_limit_per_client = 0\n", {}, "REPORT_LIMIT_PER_CLIENT"),
        ("report_limit_window_minutes = 2000\n", {}, "REPORT_LIMIT_WINDOW_MINUTES"),
        ("max_attachment_bytes = 300\nmax_report_bytes = 200\n", {}, "MAX_ATTACHMENT_BYTES"),
        ('default_language = "xx"\n', {}, "DEFAULT_LANGUAGE"),
        ("argon2_memory_kib = 16\nargon2_parallelism = 4\n", {}, "ARGON2_MEMORY_KIB"),
        ("argon2_time_cost = 0\n", {}, "ARGON2_TIME_COST"),
        ("session_idle_minutes = 0\n", {}, "SESSION_IDLE_MINUTES"),
        ("lockout_threshold = 0\n", {}, "LOCKOUT_THRESHOLD"),
    ],
)
def test_invalid_values_name_the_setting(config_dir: Path, extra: str, env: dict[str, str], name: str) -> None:
    error = refused(write_config(config_dir, extra), **env)
    assert error.name == name
    assert str(error).startswith(f"setting {name}: ")
    assert "\n" not in str(error)
    assert error.exit_code == 78


@pytest.mark.parametrize("missing", ["database_url", "master_key_file", "data_dir"])
def test_missing_required_setting(config_dir: Path, missing: str) -> None:
    base = "".join(line + "\n" for line in MINIMAL.splitlines() if line and not line.startswith(missing))
    error = refused(write_config(config_dir, base=base))
    assert error.name == missing.upper()
    assert error.reason == "is required"


def test_empty_required_setting_from_the_environment(config_dir: Path) -> None:
    error = refused(write_config(config_dir), database_url="")
    assert error.name == "DATABASE_URL"


def test_smtp_credentials_in_clear_are_refused_without_echoing_them(config_dir: Path) -> None:
    error = refused(write_config(config_dir, 'smtp_url = "smtp://relay:s3cret@mail.example.com"\n'))
    assert error.name == "SMTP_URL" and "s3cret" not in str(error)
    assert "smtp+starttls://" in str(error) and "smtps://" in str(error)
    for url in ("smtp+starttls://relay:s3cret@mail.example.com:587", "smtps://relay:s3cret@mail.example.com",
                "smtp://mail.example.com:25"):  # TLS, or no credentials at all: fine
        assert load(write_config(config_dir, f'smtp_url = "{url}"\n')).smtp_url == url


def test_runtime_dir_defaults_and_overrides(config_dir: Path, tmp_path: Path) -> None:
    settings = load(write_config(config_dir))
    assert settings.runtime_dir is None
    assert settings.runtime_path in (SYSTEM_RUNTIME_DIR, settings.data_dir / "run")
    assert SYSTEM_RUNTIME_DIR == Path("/run/appliance")
    chosen = load(write_config(config_dir, f'runtime_dir = "{tmp_path / "rt"}"\n'))
    assert chosen.runtime_path == tmp_path / "rt"
    assert load(write_config(config_dir), runtime_dir="relative/run").runtime_path == (config_dir / "relative/run").resolve()


def test_lockouts_are_short_by_default(config_dir: Path) -> None:
    settings = load(write_config(config_dir))
    assert settings.lockout_max_seconds <= 15 * 60 and settings.lockout_case_key_seconds <= 60
    assert settings.report_limit_per_client < settings.report_limit_per_channel


def test_missing_config_file_without_environment(tmp_path: Path) -> None:
    error = refused(tmp_path / "nowhere.toml")
    assert error.name == "APPLIANCE_CONFIG"
    assert "appliance init" in error.reason
    assert str(tmp_path / "nowhere.toml") in error.reason


def test_invalid_toml(config_dir: Path) -> None:
    error = refused(write_config(config_dir, "log_retention_days = [\n"))
    assert error.name == "APPLIANCE_CONFIG"
    assert "not valid TOML" in error.reason


def test_config_that_is_not_utf8(config_dir: Path) -> None:
    path = config_dir / "appliance.toml"
    path.write_bytes(MINIMAL.encode() + b'mail_from = "\xff"\n')
    assert refused(path).name == "APPLIANCE_CONFIG"


def test_build_settings_checks_required_values(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        build_settings({"database_url": "sqlite+pysqlcipher:///x.db", "data_dir": "."}, base_dir=tmp_path)
    assert caught.value.name == "MASTER_KEY_FILE"


# where the file is -----------------------------------------------------------------------

def test_config_path_from_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "appliance.toml").write_text(MINIMAL)
    chosen = find_config_path({"APPLIANCE_CONFIG": "/srv/custom.toml"}, cwd=tmp_path)
    assert chosen == Path("/srv/custom.toml")


def test_checkout_config_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "appliance.toml").write_text(MINIMAL)
    assert find_config_path({}, cwd=tmp_path) == tmp_path / "var" / "appliance.toml"


def test_empty_environment_variable_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "appliance.toml").write_text(MINIMAL)
    assert find_config_path({"APPLIANCE_CONFIG": ""}, cwd=tmp_path) == tmp_path / "var" / "appliance.toml"


def test_system_config_otherwise(tmp_path: Path) -> None:
    assert find_config_path({}, cwd=tmp_path) == SYSTEM_CONFIG == Path("/etc/appliance/appliance.toml")


def test_load_settings_follows_appliance_config(config_dir: Path) -> None:
    path = write_config(config_dir, "workers = 5\n")
    settings = load_settings(environ={"APPLIANCE_CONFIG": str(path)})
    assert settings.workers == 5
    assert settings.config_path == path


# a missing file: which path, and how it was chosen ----------------------------------------


@pytest.mark.parametrize(("environ", "config_path", "said"), [
    ({}, None, "the default: APPLIANCE_CONFIG is not set and there is no var/appliance.toml in the current directory"),
    ({"APPLIANCE_CONFIG": "{dir}/x.toml"}, None, "from the environment variable APPLIANCE_CONFIG"),
    ({}, "{dir}/y.toml", "given by the caller"),
])
def test_a_missing_config_names_the_path_and_how_it_was_chosen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], config_path: str | None,
        said: str) -> None:
    monkeypatch.chdir(tmp_path)
    env = {k: v.format(dir=tmp_path) for k, v in environ.items()}
    path = Path(config_path.format(dir=tmp_path)) if config_path else None
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=env, config_path=path)
    expected = path or Path(env.get("APPLIANCE_CONFIG") or SYSTEM_CONFIG)
    assert f"{expected} does not exist ({said}); run `appliance init` first" in str(caught.value)
