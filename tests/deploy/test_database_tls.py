"""App hosts reach PostgreSQL over verified TLS: the URL the roles build, against a real server.

A private PostgreSQL cluster (tests/functional/pgcluster.py) gets a server certificate for
``localhost`` signed by a CA made for the test; the roles' default URL for
``appliance_db_backend: postgresql`` (rendered by Ansible from group_vars) connects with
sslmode=verify-full, and the connection is encrypted. The same URL with another CA, or dialling
a name the certificate does not carry, is refused by libpq.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.db import create_engine
from appliance.db_tls import postgresql_tls
from tests.deploy.stack import REPO, SBIN_PATH, VENV_BIN, tool
from tests.functional.pgcluster import Cluster, as_server_user, pg_bin, private_cluster
from tests.support import make_settings

pytestmark = pytest.mark.deploy

ANSIBLE_DIR = REPO / "deploy" / "ansible"


def ansible(*args: str) -> str:
    """An ad-hoc `ansible` run on the example inventory: its group_vars are the roles' defaults."""
    program = VENV_BIN / "ansible"
    if not program.exists():
        pytest.skip("ansible is not installed (./scripts/test installs the deploy extra)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "APPLIANCE_"))}
    env.update(PATH=os.pathsep.join([str(VENV_BIN), SBIN_PATH]), ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run([str(program), "app1.example.com", "-i", "inventory.example.yml", "-c", "local",
                           "-m", "ansible.builtin.debug", *args], cwd=ANSIBLE_DIR, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def openssl(*args: str) -> None:
    subprocess.run([tool("openssl"), *args], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert))
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path, Path]]:
    """A PostgreSQL server with a certificate for localhost from a test CA: (cluster, CA, other CA)."""
    try:
        pg_bin("pg_ctl")
    except RuntimeError as exc:
        pytest.skip(str(exc))
    directory = tmp_path_factory.mktemp("pgtls")
    ca, ca_key = make_ca(directory, "db-ca")
    other_ca, _ = make_ca(directory, "other-ca")
    with private_cluster() as cluster:
        key, csr, cert = cluster.data / "server.key", directory / "server.csr", cluster.data / "server.crt"
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
        extensions = directory / "san.cnf"
        extensions.write_text("subjectAltName=DNS:localhost\n")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                "-days", "2", "-extfile", str(extensions), "-out", str(cert))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (key, cert):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        key.chmod(0o600)
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        subprocess.run(as_server_user([pg_bin("pg_ctl"), "-D", str(cluster.data), "-w", "reload"]),
                       check=True, capture_output=True, cwd="/")
        cluster.sql("CREATE DATABASE appliance")
        yield cluster, ca, other_ca


def roles_url(**values: object) -> str:
    """appliance_database_url as the roles build it from group_vars/all/defaults.yml."""
    output = ansible("-a", "var=appliance_database_url", "-e", json.dumps({"appliance_db_backend": "postgresql", **values}))
    return str(json.loads(output.split("=>", 1)[1])["appliance_database_url"])


def connects(url: str, tmp_path: Path) -> bool | str:
    """Whether the appliance's engine opens this URL, and the server sees TLS; else libpq's reason."""
    engine = create_engine(make_settings(tmp_path, url))
    try:
        with engine.connect() as connection:
            return bool(connection.execute(sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar())
    except sa.exc.OperationalError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()


def test_the_roles_url_for_postgresql_asks_for_verify_full() -> None:
    url = roles_url(appliance_postgresql_runtime_password="pw/with+signs")
    assert url == ("postgresql+psycopg://appliance_app:pw%2Fwith%2Bsigns@db1.example.com:5432/appliance"
                   "?sslmode=verify-full&sslrootcert=/etc/appliance/postgresql-ca.pem")
    assert postgresql_tls(url).problem is None
    # The default stays SQL Server (FreeTDS's freetds.conf requires and verifies its TLS).
    assert "mssql+pymssql://appliance_app:@db1.example.com:1433/appliance" in ansible("-a", "var=appliance_database_url")


def test_the_roles_url_connects_over_verified_tls(tls_server: tuple[Cluster, Path, Path], tmp_path: Path) -> None:
    cluster, ca, other_ca = tls_server
    values = {"appliance_postgresql_host": "localhost", "appliance_postgresql_port": cluster.port,
              "appliance_postgresql_runtime_login": "postgres", "appliance_postgresql_ca": str(ca)}
    assert connects(roles_url(**values), tmp_path) is True
    # Another CA: the server's certificate does not verify.
    refused = connects(roles_url(**{**values, "appliance_postgresql_ca": str(other_ca)}), tmp_path)
    assert isinstance(refused, str) and "certificate verify failed" in refused
    # A name the certificate does not carry (a machine in the middle with a certificate for
    # its own name fails the same way): verify-full checks the name, verify-ca would not.
    copy = tmp_path / "ca.pem"
    shutil.copy(ca, copy)
    wrong_name = roles_url(**{**values, "appliance_postgresql_host": "127.0.0.1", "appliance_postgresql_ca": str(copy)})
    refused = connects(wrong_name, tmp_path)
    assert isinstance(refused, str) and "127.0.0.1" in refused and "does not match" in refused
