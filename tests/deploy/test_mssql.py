"""The mssql role: its T-SQL rendered and checked, and the role run in check mode.

SQL Server cannot be installed on the test machine (no Microsoft repository, no running
systemd), so nothing here executes T-SQL. What is proven: the scripts the role feeds to
sqlcmd, rendered from the role's templates as Ansible renders them, say what the security
model needs, in the right order, idempotently, with secrets quoted; and the whole role runs
through `ansible-playbook --check` on this host with its templates and variables resolving.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import jinja2
import pytest

from tests.deploy.test_ansible import ANSIBLE_DIR, SYSTEM_PYTHON, ansible_env, ansible_tool, distribution_version, recap

pytestmark = pytest.mark.deploy
yaml = pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra (./scripts/test installs it)")

ROLE = ANSIBLE_DIR / "roles" / "mssql"
TSQL = ROLE / "templates" / "tsql"
HOSTILE = "it's'; DROP LOGIN sa; --"
VALUES: dict[str, object] = {
    "ansible_managed": "Ansible managed",
    "appliance_mssql_database": "appliance",
    "appliance_mssql_vault_database": "appliance_vault",
    "appliance_mssql_migration_login": "appliance_migrate",
    "appliance_mssql_runtime_login": "appliance_app",
    "appliance_mssql_tde_certificate": "appliance_tde",
    "appliance_mssql_backup_dir": "/var/opt/mssql/backup",
    "appliance_mssql_master_key_password": "dmk-" + HOSTILE,
    "appliance_mssql_tde_backup_password": "pvk-" + HOSTILE,
    "appliance_mssql_migration_password": "migrate-" + HOSTILE,
    "appliance_mssql_runtime_password": "runtime-" + HOSTILE,
    "appliance_mssql_runtime_can_backup": True,
}


def render(name: str, **overrides: object) -> str:
    """As Ansible's template lookup renders it (trim_blocks, unknown names are errors)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    return env.from_string((TSQL / name).read_text("utf-8")).render(**{**VALUES, **overrides})


def code_only(sql: str) -> str:
    """The script without comments and with every string literal blanked out: what is left is
    what SQL Server executes as statements (so a password cannot have escaped its literal)."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        if sql.startswith("--", i):  # a comment, to the end of the line
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
        elif sql[i] == "'" or sql.startswith("N'", i):  # a literal; '' is a quote inside it
            j = sql.index("'", i) + 1
            while True:
                j = sql.index("'", j)
                if sql.startswith("''", j):
                    j += 2
                    continue
                break
            out.append("N'…'" if sql[i] == "N" else "'…'")
            i = j + 1
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


def statements(sql: str) -> list[str]:
    return [s.strip() for s in re.split(r";|\bGO\b", code_only(sql)) if s.strip()]


def tsql_tasks() -> list[str]:
    """The templates in the order tasks/tsql.yml runs them."""
    tasks = yaml.safe_load((ROLE / "tasks" / "tsql.yml").read_text("utf-8"))
    order = []
    for task in tasks:
        stdin = task.get("ansible.builtin.command", {}).get("stdin", "")
        match = re.search(r"tsql/([\w.-]+)", stdin)
        if match:
            order.append(match.group(1))
    return order


def test_the_role_runs_every_script_in_order() -> None:
    assert tsql_tasks() == sorted(p.name for p in TSQL.glob("*.sql.j2"))


def test_database_is_created_in_full_recovery() -> None:
    sql = render("00-database.sql.j2")
    code = code_only(sql)
    assert "IF DB_ID(N'…') IS NULL" in code and "CREATE DATABASE [appliance]" in code
    assert "ALTER DATABASE [appliance] SET RECOVERY FULL" in code
    assert "recovery_model_desc <> N'…'" in code and "N'FULL'" in sql


def test_tde_keys_certificate_backup_and_encryption_in_order() -> None:
    everything = "\n".join(render(name) for name in tsql_tasks())
    code = code_only(everything)
    steps = ["CREATE MASTER KEY ENCRYPTION BY PASSWORD",
             "CREATE CERTIFICATE [appliance_tde]",
             "BACKUP CERTIFICATE [appliance_tde]",
             "CREATE DATABASE ENCRYPTION KEY",
             "ALTER DATABASE [appliance] SET ENCRYPTION ON",
             "sys.dm_database_encryption_keys AS k"]
    positions = [code.index(step) for step in steps]
    assert positions == sorted(positions), dict(zip(steps, positions, strict=True))
    # The master key and the certificate live in master; the key is AES-256 under that certificate.
    keys = code_only(render("10-tde-keys.sql.j2"))
    assert keys.index("USE master") < keys.index("CREATE MASTER KEY")
    encrypt = " ".join(code_only(render("30-tde-encrypt.sql.j2")).split())
    assert "USE [appliance]; IF NOT EXISTS" in encrypt
    assert "CREATE DATABASE ENCRYPTION KEY WITH ALGORITHM = AES_256 ENCRYPTION BY SERVER CERTIFICATE [appliance_tde]" in encrypt


def test_certificate_backup_keeps_the_private_key_encrypted() -> None:
    backup = " ".join(render("20-tde-certificate-backup.sql.j2").split())
    assert ("BACKUP CERTIFICATE [appliance_tde] TO FILE = N'/var/opt/mssql/backup/appliance_tde.cer' "
            "WITH PRIVATE KEY ( FILE = N'/var/opt/mssql/backup/appliance_tde.pvk', ENCRYPTION BY PASSWORD = N'pvk-") in backup
    # ...and the role copies both files off the host.
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text("utf-8"))
    assert role_vars["mssql_tde_backup_files"] == ["{{ appliance_mssql_tde_certificate }}.cer",
                                                   "{{ appliance_mssql_tde_certificate }}.pvk"]
    fetch = [t for t in yaml.safe_load((ROLE / "tasks" / "tsql.yml").read_text("utf-8")) if "ansible.builtin.fetch" in t]
    assert fetch and fetch[0]["loop"] == "{{ mssql_tde_backup_files }}"


def test_encryption_check_names_state_algorithm_and_recovery() -> None:
    check = render("40-tde-check.sql.j2")
    for column in ("k.encryption_state", "k.key_algorithm", "k.key_length", "k.encryptor_type", "d.recovery_model_desc"):
        assert column in check
    until = next(t for t in yaml.safe_load((ROLE / "tasks" / "tsql.yml").read_text("utf-8"))
                 if t.get("register") == "mssql_tde_state")["until"]
    assert "encryption_state=3 algorithm=AES key_length=256 encryptor=CERTIFICATE" in until
    assert "recovery=FULL" in until


def test_every_change_is_guarded_so_a_second_run_changes_nothing() -> None:
    for name in tsql_tasks():
        if name.startswith("20-"):
            continue  # runs only when the backup file is missing (the task checks)
        if name.startswith("40-"):
            continue  # read only
        code = code_only(render(name))
        for match in re.finditer(r"^\s*(CREATE|ALTER)\b.*$", code, re.MULTILINE):
            before = code[:match.start()].rstrip().splitlines()
            assert before[-1].strip() == "BEGIN" and before[-2].strip().startswith(("IF ", "ELSE IF ")), \
                f"{name}: unguarded {match.group(0).strip()}"
        assert code.count("PRINT") == code.count("BEGIN"), name  # every guarded change reports itself


@pytest.mark.parametrize("name", sorted(p.name for p in TSQL.glob("*.sql.j2")))
def test_secrets_stay_inside_their_string_literals(name: str) -> None:
    sql = render(name)
    assert "DROP LOGIN" not in code_only(sql), name
    for secret in (v for k, v in VALUES.items() if k.endswith("_password")):
        assert str(secret) not in sql  # only ever in its escaped ('') form
        escaped = str(secret).replace("'", "''")
        if escaped in sql:
            assert f"N'{escaped}'" in sql


def test_logins_have_least_privilege() -> None:
    code = code_only(render("50-logins.sql.j2"))
    assert code.count("CREATE LOGIN") == 2 and "CHECK_POLICY = ON" in code
    assert "ALTER ROLE [db_ddladmin] ADD MEMBER [appliance_migrate]" in code
    for role in ("db_datareader", "db_datawriter", "db_backupoperator"):
        assert f"ALTER ROLE [{role}] ADD MEMBER [appliance_app]" in code
    for role in ("db_owner", "db_ddladmin", "db_securityadmin", "db_accessadmin"):
        assert f"ALTER ROLE [{role}] ADD MEMBER [appliance_app]" not in code
        assert f"ALTER ROLE [{role}] DROP MEMBER [appliance_app]" in code  # taken away if ever granted
    assert "ALTER ROLE [db_owner] ADD MEMBER" not in code
    # Without backups by the service, the runtime login cannot back up either.
    no_backup = code_only(render("50-logins.sql.j2", appliance_mssql_runtime_can_backup=False))
    assert "ALTER ROLE [db_backupoperator] ADD MEMBER [appliance_app]" not in no_backup
    assert "ALTER ROLE [db_backupoperator] DROP MEMBER [appliance_app]" in no_backup
    # A password changed in the vault is set again.
    assert code.count("PWDCOMPARE") == 2 and code.count("ALTER LOGIN") == 2


def test_sqlcmd_connects_encrypted_and_stops_at_the_first_error() -> None:
    argv = yaml.safe_load((ROLE / "vars" / "main.yml").read_text("utf-8"))["mssql_sqlcmd_argv"]
    assert {"-N", "-b"} <= set(argv)  # encryption mandatory; a failing batch fails the task
    for task in yaml.safe_load((ROLE / "tasks" / "tsql.yml").read_text("utf-8")):
        command = task.get("ansible.builtin.command")
        if command:
            assert "stdin" in command and task["environment"] == {"SQLCMDPASSWORD": "{{ appliance_mssql_sa_password }}"}
            assert "password" not in json.dumps(command["argv"]).lower()


def test_server_settings_force_tls_12_and_a_memory_limit() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text("utf-8"))
    ini = next(t for t in tasks if "community.general.ini_file" in t)
    settings = {(i["section"], i["option"]): i["value"] for i in ini["loop"]}
    assert settings[("network", "forceencryption")] == "1"
    assert settings[("network", "tlsprotocols")] == "{{ appliance_mssql_tls_protocols }}"
    defaults = yaml.safe_load((ANSIBLE_DIR / "group_vars" / "all" / "defaults.yml").read_text("utf-8"))
    assert defaults["appliance_mssql_tls_protocols"] == "1.2"
    assert ("memory", "memorylimitmb") in settings and ("network", "tlscert") in settings


# --- the role in check mode -----------------------------------------------------------------


def test_the_mssql_role_runs_in_check_mode() -> None:
    playbook = ansible_tool("ansible-playbook")
    with tempfile.TemporaryDirectory(prefix="appliance-mssql-check-") as work:
        base = Path(work)
        # Check mode changes nothing, so a task cannot see what an earlier one would have made:
        # the TLS directory exists here as on a second run (the key and certificate do not).
        (base / "mssql-tls").mkdir()
        key = base / "microsoft.asc"  # the operator's copy of Microsoft's key (its content is not used here)
        key.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----\n")
        values = {
            # The test machine is not Ubuntu 22.04: the role's release check is told about it.
            "appliance_mssql_supported_releases": [distribution_version()],
            "appliance_systemd": False,
            "appliance_secrets_dir": str(base / "secrets"),
            "appliance_mssql_tls_dir": str(base / "mssql-tls"),
            "appliance_mssql_repository_key_src": str(key),
            # The mssql-server package, which creates the `mssql` account, is not installed here.
            "appliance_mssql_service_user": "root",
            **{k: v for k, v in VALUES.items() if k.endswith("_password")},
            "appliance_mssql_sa_password": "sa-" + HOSTILE,
            "appliance_mssql_accept_eula": True,
        }
        extra = base / "values.json"
        extra.write_text(json.dumps(values))
        inventory = base / "inventory.yml"
        inventory.write_text(json.dumps({"all": {"children": {"db": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": SYSTEM_PYTHON}}}}}}))
        done = subprocess.run([playbook, "-i", str(inventory), "site.yml", "--tags", "mssql", "--check", "--diff",
                               "-e", f"@{extra}"], cwd=ANSIBLE_DIR, env=ansible_env(ANSIBLE_LOCAL_TEMP=str(base / "tmp")),
                              capture_output=True, text=True, timeout=600)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        _, unreachable, failed = recap(output)
        assert (unreachable, failed) == (0, 0), output[-6000:]
        # Every T-SQL step was reached (sqlcmd itself does not run in check mode)...
        for task in ("Create the database in the FULL recovery model", "Create the database master key and the TDE certificate",
                     "Create the database encryption key (AES_256) and turn encryption on",
                     "Create the migration and runtime logins (least privilege)"):
            assert f"TASK [mssql : {task}]" in output, task
        # ...and no secret was printed on the way (no_log on every task that carries one).
        assert HOSTILE not in output and HOSTILE.replace("'", "''") not in output
        assert not (base / "secrets").exists() or not any((base / "secrets").iterdir())
