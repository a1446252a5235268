"""Verified TLS to PostgreSQL: every URL that leaves this host needs sslmode=verify-full."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.db_tls import is_local_host, postgresql_tls
from appliance.errors import SettingsError
from appliance.settings import build_settings

CA = "sslrootcert=%2Fetc%2Fappliance%2Fpostgresql-ca.pem"
REMOTE = "postgresql+psycopg://app:s3cret-pw@db1.example.com:5432/appliance"

ALLOWED = [
    # Over the network, verified: the only form for another host.
    f"{REMOTE}?sslmode=verify-full&{CA}",
    f"{REMOTE}?{CA}&sslmode=verify-full",
    f"{REMOTE}?application_name=app&sslmode=verify-full&connect_timeout=5",
    "postgresql+psycopg://app:pw@10.0.1.10/appliance?sslmode=verify-full",
    "postgresql+psycopg://app:pw@[2001:db8::10]:5432/appliance?sslmode=verify-full",
    "postgresql+psycopg://app:pw@/appliance?host=db1.example.com&sslmode=verify-full",
    "postgresql+psycopg://app:pw@/appliance?host=db1.example.com:5432&host=db2.example.com:5432&sslmode=verify-full",
    "postgresql+psycopg://app@/appliance?service=prod&sslmode=verify-full",
    # This host: no network to protect (the embedded and test setups, a one-host install).
    "postgresql+psycopg://postgres@127.0.0.1:5432/appliance",
    "postgresql+psycopg://postgres@127.0.0.2/appliance?sslmode=disable",
    "postgresql+psycopg://postgres@localhost/appliance",
    "postgresql+psycopg://postgres@[::1]:5432/appliance?sslmode=require",
    "postgresql+psycopg://appliance@/appliance",
    "postgresql+psycopg://appliance@/appliance?host=/var/run/postgresql",
    "postgresql+psycopg://appliance@%2Fvar%2Frun%2Fpostgresql/appliance",
    "postgresql+psycopg://app@/appliance?host=127.0.0.1:5432&host=localhost:5433",
]

REFUSED = [
    (REMOTE, "no sslmode"),
    (f"{REMOTE}?{CA}", "no sslmode"),
    (f"{REMOTE}?sslmode=require", "sslmode=require"),
    (f"{REMOTE}?sslmode=verify-ca&{CA}", "sslmode=verify-ca"),
    (f"{REMOTE}?sslmode=prefer", "sslmode=prefer"),
    (f"{REMOTE}?sslmode=allow", "sslmode=allow"),
    (f"{REMOTE}?sslmode=disable", "sslmode=disable"),
    (f"{REMOTE}?sslmode=", "sslmode="),
    (f"{REMOTE}?sslmode=VERIFY-FULL", "sslmode=VERIFY-FULL"),
    (f"{REMOTE}?application_name=app&sslmode=require&connect_timeout=5", "sslmode=require"),
    (f"{REMOTE}?sslmode=disable&sslmode=verify-full", "more than once"),
    (f"{REMOTE}?sslmode=verify-full&sslrootcert=/a.pem&sslrootcert=/b.pem", "more than once"),
    ("postgresql+psycopg://app:pw@10.0.1.10/appliance", "no sslmode"),
    ("postgresql+psycopg://app:pw@[2001:db8::10]:5432/appliance?sslmode=require", "sslmode=require"),
    # A loopback URL whose host= parameter sends it elsewhere.
    ("postgresql+psycopg://app@127.0.0.1/appliance?host=db1.example.com", "no sslmode"),
    ("postgresql+psycopg://app@/appliance?hostaddr=10.0.1.10", "no sslmode"),
    ("postgresql+psycopg://app@/appliance?host=localhost,db2.example.com&sslmode=require", "sslmode=require"),
    ("postgresql+psycopg://app@localhost:5432,db2.example.com:5432/appliance", "no sslmode"),
    # A pg_service.conf entry may name any host.
    ("postgresql+psycopg://app@/appliance?service=prod", "pg_service.conf"),
    # A host name that merely starts like a loopback one.
    ("postgresql+psycopg://app@localhost.example.com/appliance", "no sslmode"),
    ("postgresql+psycopg://app@127.0.0.1.example.com/appliance", "no sslmode"),
]


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed_urls(url: str) -> None:
    assert postgresql_tls(url).problem is None


@pytest.mark.parametrize(("url", "named"), REFUSED)
def test_refused_urls_say_why(url: str, named: str) -> None:
    problem = postgresql_tls(url).problem
    assert problem is not None and named in problem
    assert "s3cret-pw" not in problem and "pw@" not in problem  # never the password


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "/run/postgresql"])
def test_local_hosts(host: str) -> None:
    assert is_local_host(host)


@pytest.mark.parametrize("host", ["", "10.0.0.1", "db", "localhost.", "0.0.0.0", "::", "example.com"])
def test_remote_hosts(host: str) -> None:
    # An empty host in a URL is libpq's default socket (postgresql_tls handles it); alone it is no host.
    assert not is_local_host(host)


def test_doctor_line_names_the_mode_and_the_ca() -> None:
    verified = postgresql_tls(f"{REMOTE}?sslmode=verify-full&{CA}").describe()
    assert "verify-full" in verified and "/etc/appliance/postgresql-ca.pem" in verified
    assert "Unix socket" in postgresql_tls("postgresql+psycopg://a@/appliance").describe()
    assert "loopback" in postgresql_tls("postgresql+psycopg://a@127.0.0.1/appliance").describe()


# --- through the settings: one line naming the setting ------------------------------------


def settings_with(tmp_path: Path, **values: str) -> None:
    build_settings({"master_key_file": "master.key", "data_dir": ".", **values}, base_dir=tmp_path)


@pytest.mark.parametrize("url", [REMOTE, f"{REMOTE}?sslmode=require", f"{REMOTE}?sslmode=verify-ca&{CA}"])
def test_settings_refuse_a_remote_database_url_without_verify_full(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_with(tmp_path, database_url=url)
    assert caught.value.name == "DATABASE_URL"
    message = caught.value.message()
    assert message.startswith("setting DATABASE_URL: reaches PostgreSQL at db1.example.com")
    assert "sslmode=verify-full" in message and "s3cret-pw" not in message
    assert "\n" not in message


def test_settings_refuse_a_remote_vault_url_without_verify_full(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_with(tmp_path, database_url=f"{REMOTE}?sslmode=verify-full&{CA}",
                      vault_database_url=f"{REMOTE}_vault?sslmode=require")
    assert caught.value.name == "VAULT_DATABASE_URL"


def test_settings_take_verify_full_and_local_servers(tmp_path: Path) -> None:
    settings_with(tmp_path, database_url=f"{REMOTE}?sslmode=verify-full&{CA}",
                  vault_database_url=f"{REMOTE}_vault?sslmode=verify-full&{CA}")
    settings_with(tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:5432/appliance")
    settings_with(tmp_path, database_url="sqlite+pysqlcipher:///appliance.db")
