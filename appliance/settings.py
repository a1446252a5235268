"""Settings: the only place that reads the environment or the config file.

Values come from a TOML file (``APPLIANCE_CONFIG``, else ``./var/appliance.toml`` when a
checkout was started with ``./scripts/run``, else ``/etc/appliance/appliance.toml``) and
are overridden by ``APPLIANCE_<KEY>`` environment variables. Anything wrong stops start-up
with one :class:`SettingsError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.db_tls import postgresql_tls
from appliance.errors import SettingsError

SYSTEM_CONFIG = Path("/etc/appliance/appliance.toml")
CHECKOUT_CONFIG = Path("var/appliance.toml")
SYSTEM_RUNTIME_DIR = Path("/run/appliance")
ENV_PREFIX = "APPLIANCE_"
SUPPORTED_DATABASES = ("sqlite+pysqlcipher", "postgresql+psycopg", "mssql+pymssql")
LANGUAGES = ("en", "sv", "de")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_EMAIL = re.compile(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything configurable, validated. Passed down; never read from globals."""

    database_url: str
    master_key_file: Path
    data_dir: Path
    # The person key vault (see appliance/keys/vault.py): a database the main database's
    # backups do not contain. Empty: vault.db beside the embedded database; on a server
    # backend, inside the main database (doctor warns: erasure then waits for old backups to expire).
    vault_database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str = ""
    mail_from: str = "appliance@localhost"
    # Who hears of failed backups, site copies and logbook checks besides every tenant's admins
    # (appliance/operations/alerts.py): the operators' mailbox, not a person's if it can be helped.
    alert_email: tuple[str, ...] = ()
    backup_dir: Path | None = None
    backup_sites: tuple[str, ...] = ()
    log_retention_days: int = 90
    # Finished job runs are kept this long; `appliance retention run` (daily at RETENTION_AT) deletes older ones.
    job_run_retention_days: int = 90
    retention_at: str = "02:30"
    # Access events uploaded through the API are kept this long after they happened.
    event_retention_days: int = 365
    backup_retention_days: int = 30
    # Scheduler (times are local to TIMEZONE): nightly full, log backups, prune, weekly verify, reminders.
    backup_full_at: str = "01:00"
    backup_log_minutes: int = 30
    backup_prune_at: str = "03:30"
    backup_verify_at: str = "sun 04:30"
    # The daily check of the logbook's hash chain (job logbook-verify); alerts follow its outcome.
    logbook_verify_at: str = "05:00"
    reminder_minutes: int = 60
    scheduler_lease_seconds: int = 90
    # Per-site restic password files ("site=/path"); other sites use a key derived from the master key.
    backup_site_passwords: tuple[str, ...] = ()
    backup_ssh_key_file: Path | None = None
    backup_ssh_known_hosts: Path | None = None
    # "rotate": each check after a copy reads the next 1/48 of the packs (all of them about daily).
    backup_check_subset: str = "rotate"
    # PostgreSQL: where archive_command puts WAL segments, and the server binaries (pg_basebackup, pg_ctl).
    pg_wal_archive_dir: Path | None = None
    pg_bin_dir: Path | None = None
    pg_os_user: str = "postgres"
    pg_data_dir: Path | None = None
    # SQL Server: backup directory as the server sees it, and the certificate that encrypts backups.
    mssql_backup_dir: str = ""
    mssql_backup_certificate: str = ""
    max_attachment_bytes: int = 50 * 1024 * 1024
    max_report_bytes: int = 200 * 1024 * 1024
    cookie_secure: bool = True
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    reporter_session_minutes: int = 20
    # RFC 9106 section 4, second recommended option (64 MiB, t=3, p=4).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    # Staff sign-in: failures of one account from one client lock that pair (so nobody can lock
    # a handler out from everywhere), failures of one client across accounts lock the client;
    # locks double from base to max. TOTP codes and the account page's password check lock per
    # account (only someone who has the password, or the session, can fail them).
    lockout_threshold: int = 5
    lockout_base_seconds: int = 30
    lockout_max_seconds: int = 900
    lockout_client_threshold: int = 20
    # Failures of one account from every client (counted in the database, logged as login.failed)
    # after which each client that fails it again is locked at once; a client that did not fail
    # is still let in.
    lockout_account_threshold: int = 20
    # Case keys (80 random bits: guessing is hopeless anyway): a client that fails this often is
    # paused for this long, never longer, since it may be a NAT or a Tor exit shared by reporters.
    lockout_case_key_threshold: int = 10
    lockout_case_key_seconds: int = 60
    # New reports per client and per channel (organisation) in a sliding window; over it the
    # portal answers 429 before the upload is read, and nothing is stored.
    report_limit_per_client: int = 5
    report_limit_per_channel: int = 60
    report_limit_window_minutes: int = 60
    # The JSON API (/api/v1/): requests per token per minute (429 with Retry-After beyond), and
    # the largest request body it reads (413 before reading more).
    api_rate_limit_per_minute: int = 60
    api_max_body_bytes: int = 1024 * 1024
    default_language: str = "en"
    # Shown times (deadlines, messages) are in this zone; everything is stored in UTC.
    timezone: str = "UTC"
    bind: str = "127.0.0.1:8000"
    # Number of reverse proxies (nginx) in front whose X-Forwarded-* headers are trusted.
    proxy_count: int = 0
    workers: int = 2
    threads: int = 4
    # Where gunicorn's workers keep their Prometheus counters (`appliance serve` empties it at
    # start); unset: one process, metrics in memory. The systemd unit sets it under /run.
    metrics_dir: Path | None = None
    # Host-local state keyed by client addresses (throttles, report limits) under a key that is
    # replaced every UTC day: never in the database or a backup. Unset: /run/appliance when this
    # process may write there (the systemd unit's RuntimeDirectory, a tmpfs), else DATA_DIR/run.
    runtime_dir: Path | None = None
    log_level: str = "INFO"
    config_path: Path | None = None

    @property
    def backend(self) -> str:
        """The SQLAlchemy dialect+driver name, e.g. ``postgresql+psycopg``."""
        return self.database_url.split("://", 1)[0]

    @property
    def backup_root(self) -> Path:
        """Where local backups go: BACKUP_DIR, else DATA_DIR/backups."""
        return self.backup_dir or self.data_dir / "backups"

    @property
    def vault_url(self) -> str:
        """Where person shares live; empty: in the main database."""
        if self.vault_database_url:
            return self.vault_database_url
        if self.is_embedded:
            return f"sqlite+pysqlcipher:///{self.data_dir / 'vault.db'}"
        return ""

    @property
    def runtime_path(self) -> Path:
        """Where the ephemeral store lives: RUNTIME_DIR, else /run/appliance when writable, else DATA_DIR/run."""
        if self.runtime_dir is not None:
            return self.runtime_dir
        if SYSTEM_RUNTIME_DIR.is_dir() and os.access(SYSTEM_RUNTIME_DIR, os.W_OK | os.X_OK):
            return SYSTEM_RUNTIME_DIR
        return self.data_dir / "run"

    @property
    def is_embedded(self) -> bool:
        return self.backend == "sqlite+pysqlcipher"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "config_path"}
_REQUIRED = ("database_url", "master_key_file", "data_dir")


def find_config_path(environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    """Where the config file is expected, following the documented order."""
    if environ.get("APPLIANCE_CONFIG"):
        return Path(environ["APPLIANCE_CONFIG"])
    checkout = (cwd or Path.cwd()) / CHECKOUT_CONFIG
    if checkout.exists():
        return checkout
    return SYSTEM_CONFIG


def config_origin(environ: Mapping[str, str]) -> str:
    """How find_config_path chose its path, for the line that says it is missing."""
    if environ.get("APPLIANCE_CONFIG"):
        return "from the environment variable APPLIANCE_CONFIG"
    return (f"the default: APPLIANCE_CONFIG is not set and there is no {CHECKOUT_CONFIG} "
            "in the current directory")


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    """Read the config file and environment into validated :class:`Settings`."""
    env = os.environ if environ is None else environ
    path = config_path or find_config_path(env)
    raw: dict[str, Any] = {}
    if _config_exists(path):
        try:
            raw = {k.lower(): v for k, v in tomllib.loads(path.read_text("utf-8")).items()}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError("APPLIANCE_CONFIG", f"{path} is not valid TOML ({exc})") from None
        except OSError as exc:
            raise SettingsError("APPLIANCE_CONFIG", f"cannot read {path}: {exc.strerror}") from None
    elif not any(f"{ENV_PREFIX}{name.upper()}" in env for name in _REQUIRED):
        chosen = "given by the caller" if config_path else config_origin(env)
        raise SettingsError(
            "APPLIANCE_CONFIG", f"{path} does not exist ({chosen}); run `appliance init` first, "
                                "or set APPLIANCE_CONFIG to the installation's appliance.toml"
        )
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise SettingsError(unknown[0].upper(), f"unknown setting in {path}")
    for name in _FIELDS:
        env_value = env.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None:
            raw[name] = env_value
    exists = _config_exists(path)
    return build_settings(raw, base_dir=path.parent if exists else Path.cwd(),
                          config_path=path if exists else None)


def _config_exists(path: Path) -> bool:
    """Whether the config file is there; a directory this user may not enter is one clear line,
    not a traceback (Path.exists raises PermissionError)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise SettingsError("APPLIANCE_CONFIG", f"cannot read {path}: permission denied; run as the "
                                                "appliance's user (check the owner and mode of its directory)") from None
    return True


def build_settings(
    raw: Mapping[str, Any], base_dir: Path, config_path: Path | None = None
) -> Settings:
    """Validate raw values (strings from env or typed from TOML) into Settings."""
    values: dict[str, Any] = {}
    for name in _REQUIRED:
        if raw.get(name) in (None, ""):
            raise SettingsError(name.upper(), "is required")
    for name, value in raw.items():
        field = _FIELDS[name]
        values[name] = _coerce(name, str(field.type), value, base_dir)
    settings = Settings(**values, config_path=config_path)
    _validate(settings)
    return settings


def _coerce(name: str, type_name: str, value: Any, base_dir: Path) -> Any:
    label = name.upper()
    if type_name == "int":
        if isinstance(value, (bool, float)):  # int() would turn true into 1 and 2.5 into 2
            raise SettingsError(label, f"must be a whole number, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsError(label, f"must be a whole number, got {value!r}") from None
        if number < 0:
            raise SettingsError(label, "must not be negative")
        return number
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(label, f"must be true or false, got {value!r}")
    if type_name.startswith("tuple"):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise SettingsError(label, "must be a list of strings")
    if "Path" in type_name:
        if value in (None, ""):
            return None
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else (base_dir / path).resolve()
    if not isinstance(value, str):
        raise SettingsError(label, "must be a string")
    if name in ("database_url", "vault_database_url") and value.startswith("sqlite+pysqlcipher:///"):
        db_path = Path(value.removeprefix("sqlite+pysqlcipher:///"))
        if not db_path.is_absolute():
            value = f"sqlite+pysqlcipher:///{(base_dir / db_path).resolve()}"
    return value


def _validate(settings: Settings) -> None:
    if settings.backend not in SUPPORTED_DATABASES:
        raise SettingsError(
            "DATABASE_URL", f"unsupported backend {settings.backend!r}; use one of "
            + ", ".join(SUPPORTED_DATABASES)
        )
    for name in ("database_url", "vault_database_url"):
        url = getattr(settings, name)
        if url.startswith("postgresql"):
            problem = postgresql_tls(url).problem
            if problem:
                raise SettingsError(name.upper(), problem)
    base = urlsplit(settings.base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise SettingsError("BASE_URL", "must be an http(s) URL such as https://whistle.example.com")
    if settings.smtp_url:
        _validate_smtp(settings.smtp_url)
    for address in settings.alert_email:
        if not _EMAIL.fullmatch(address):
            raise SettingsError("ALERT_EMAIL", "must be e-mail addresses such as it-ops@example.com (comma-separated)")
    if settings.max_attachment_bytes > settings.max_report_bytes:
        raise SettingsError("MAX_ATTACHMENT_BYTES", "must not exceed MAX_REPORT_BYTES")
    if settings.default_language not in LANGUAGES:
        raise SettingsError("DEFAULT_LANGUAGE", f"must be one of {', '.join(LANGUAGES)}")
    try:
        zoneinfo.ZoneInfo(settings.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError("TIMEZONE", f"unknown time zone {settings.timezone!r}; use e.g. Europe/Stockholm") from None
    if settings.argon2_memory_kib < 8 * settings.argon2_parallelism:
        raise SettingsError("ARGON2_MEMORY_KIB", "must be at least 8 × ARGON2_PARALLELISM")
    if settings.argon2_time_cost < 1 or settings.argon2_parallelism < 1:
        raise SettingsError("ARGON2_TIME_COST", "time cost and parallelism must be at least 1")
    if settings.session_idle_minutes < 1 or settings.session_absolute_hours < 1:
        raise SettingsError("SESSION_IDLE_MINUTES", "session timeouts must be positive")
    if settings.workers < 1 or settings.threads < 1:
        raise SettingsError("WORKERS", "workers and threads must be at least 1")
    _validate_limits(settings)
    _validate_schedule(settings)


def _validate_smtp(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise SettingsError("SMTP_URL", "must start with smtp://, smtp+starttls:// or smtps://")
    if parts.scheme == "smtp" and (parts.username or parts.password):
        # smtplib would send AUTH over the plain connection: the password readable on the wire.
        raise SettingsError("SMTP_URL", "smtp:// with a user name and password would send them in clear; "
                                        "use smtp+starttls:// or smtps://")


def _validate_limits(settings: Settings) -> None:
    for name in ("lockout_threshold", "lockout_client_threshold", "lockout_account_threshold",
                 "lockout_case_key_threshold", "lockout_base_seconds", "lockout_case_key_seconds",
                 "report_limit_per_client", "report_limit_per_channel", "report_limit_window_minutes",
                 "api_rate_limit_per_minute", "api_max_body_bytes"):
        if getattr(settings, name) < 1:
            raise SettingsError(name.upper(), "must be at least 1")
    if settings.lockout_max_seconds < settings.lockout_base_seconds:
        raise SettingsError("LOCKOUT_MAX_SECONDS", "must not be less than LOCKOUT_BASE_SECONDS")
    if settings.lockout_max_seconds > 3600 or settings.lockout_case_key_seconds > 3600:
        # Locks are meant to slow guessing down, not to shut people out: keep them short.
        raise SettingsError("LOCKOUT_MAX_SECONDS" if settings.lockout_max_seconds > 3600 else
                            "LOCKOUT_CASE_KEY_SECONDS", "must be at most 3600 (an hour)")
    if settings.report_limit_window_minutes > 1440:
        raise SettingsError("REPORT_LIMIT_WINDOW_MINUTES", "must be at most 1440 (a day)")


def _validate_schedule(settings: Settings) -> None:
    for name in ("backup_full_at", "backup_prune_at", "retention_at", "logbook_verify_at"):
        if not _TIME.fullmatch(getattr(settings, name)):
            raise SettingsError(name.upper(), "must be a local time HH:MM, e.g. 01:00")
    day, _, at = settings.backup_verify_at.partition(" ")
    if day.lower() not in WEEKDAYS or not _TIME.fullmatch(at):
        raise SettingsError("BACKUP_VERIFY_AT", "must be a weekday and a time, e.g. 'sun 04:30'")
    if not 1 <= settings.backup_log_minutes <= 1440 or not 1 <= settings.reminder_minutes <= 1440:
        raise SettingsError("BACKUP_LOG_MINUTES", "backup_log_minutes and reminder_minutes must be 1..1440")
    if settings.scheduler_lease_seconds < 10:
        raise SettingsError("SCHEDULER_LEASE_SECONDS", "must be at least 10")
    if not re.fullmatch(r"rotate|\d{1,3}(\.\d+)?%|\d+/\d+", settings.backup_check_subset):
        raise SettingsError("BACKUP_CHECK_SUBSET", "must be rotate, a percentage such as 10% or a fraction n/t")


def render_config(values: Mapping[str, Any]) -> str:
    """Write settings as TOML (used by ``appliance init``); only simple types."""
    lines = ["# appliance configuration; see README.md for every key", ""]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{key} = [" + ", ".join(_toml_string(v) for v in value) + "]")
        else:
            lines.append(f"{key} = {_toml_string(str(value))}")
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
