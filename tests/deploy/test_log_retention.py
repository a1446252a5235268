"""Technical logs have a lifetime: journald (hardening role) and nginx's logs (nginx role) keep
appliance_system_log_retention_days (60 by default), rendered as Ansible renders them; and the
app role warns when fewer than two backup sites are configured."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.test_ansible import ANSIBLE_DIR
from tests.deploy.test_hardening import DEFAULTS, render

pytestmark = pytest.mark.deploy
yaml = pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra (./scripts/test installs it)")

NGINX = ANSIBLE_DIR / "roles" / "nginx"


def render_nginx(**values: object) -> str:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    context = {**{k: v for k, v in DEFAULTS.items() if not (isinstance(v, str) and "{{" in v)},
               "ansible_managed": "Ansible managed", **values}
    return env.from_string((NGINX / "templates" / "logrotate-nginx.j2").read_text("utf-8")).render(**context)


def tasks(path: Path) -> list[dict[str, object]]:
    loaded: list[dict[str, object]] = yaml.safe_load(path.read_text("utf-8"))
    return loaded


def test_the_default_lifetime_is_60_days_and_apart_from_the_logbooks() -> None:
    assert DEFAULTS["appliance_system_log_retention_days"] == 60
    assert DEFAULTS["appliance_log_retention_days"] == 90  # the logbook in the database (LOG_RETENTION_DAYS)


def test_journald_deletes_entries_after_the_lifetime() -> None:
    conf = render("journald-retention.conf.j2", "app1")
    assert "[Journal]\nMaxRetentionSec=60day\n" in conf
    assert "MaxRetentionSec=14day" in render("journald-retention.conf.j2", "db1", appliance_system_log_retention_days=14)
    task = next(t for t in tasks(ANSIBLE_DIR / "roles" / "hardening" / "tasks" / "logs.yml")
                if "ansible.builtin.template" in t)
    assert task["ansible.builtin.template"] == {  # type: ignore[comparison-overlap]
        "src": "journald-retention.conf.j2", "dest": "/etc/systemd/journald.conf.d/appliance-retention.conf",
        "owner": "root", "group": "root", "mode": "0644"}
    assert task["notify"] == "Restart journald"


def test_nginx_logs_rotate_daily_and_go_after_the_lifetime(tmp_path: Path) -> None:
    conf = render_nginx()
    lines = [line.strip() for line in conf.splitlines()]
    assert "/var/log/nginx/*.log {" in lines
    assert {"daily", "rotate 60", "maxage 60", "compress", "create 0640 www-data adm"} <= set(lines)
    assert "rotate 30" in render_nginx(appliance_system_log_retention_days=30)
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if Path(logrotate).exists():  # logrotate's own parser, when the host has it
        (tmp_path / "nginx").write_text(conf.replace("/var/log/nginx", str(tmp_path)), "utf-8")
        result = subprocess.run([logrotate, "--debug", "--state", str(tmp_path / "state"), str(tmp_path / "nginx")],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
    task = next(t for t in tasks(NGINX / "tasks" / "main.yml")
                if str(t.get("name", "")).startswith("Keep nginx's logs"))
    assert task["ansible.builtin.template"]["dest"] == "/etc/logrotate.d/nginx"  # type: ignore[index]


def test_the_app_role_warns_below_two_backup_sites() -> None:
    task = next(t for t in tasks(ANSIBLE_DIR / "roles" / "app" / "tasks" / "main.yml")
                if str(t.get("name", "")).startswith("Warn when fewer than two backup sites"))
    assert task["when"] == "appliance_backup_sites | length < appliance_backup_sites_expected | int"
    assert DEFAULTS["appliance_backup_sites_expected"] == 2
    assert "WARNING" in str(task["ansible.builtin.debug"])
