"""fail2ban from the hardening role: converged for real into a copy of /etc/fail2ban, checked
with ``fail2ban-client -t``, and its sign-in filter run with ``fail2ban-regex`` over the log a
real nginx (nginx/appliance.conf, in front of a real gunicorn) wrote.

The promise kept: the only log with client addresses is nginx's sign-in log, which holds
failed or refused staff sign-ins and nothing about reporters; the filter bans from it, and a
reporter's requests neither reach it nor any other log. fail2ban itself is not started (no
systemd in the test container, and its bans would change this host's firewall).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.role_tasks import run_role_tasks
from tests.deploy.stack import Stack, tool
from tests.deploy.test_ansible import RECAP, changed_tasks, failed_task

pytestmark = pytest.mark.deploy
pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra (./scripts/test installs it)")

STAFF, REPORTER, FLOODER = "127.0.0.91", "127.0.0.92", "127.0.0.93"
ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\[?[0-9a-f]*:[0-9a-f:]+\]?")
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Host:
    fail2ban_dir: Path
    log_dir: Path


@dataclass
class Converged:
    hosts: dict[str, Host]
    first: str
    second: str


def fail2ban_client(config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("fail2ban-client"), "-c", str(config_dir), "-t"], capture_output=True, text=True,
                          timeout=120)


def fail2ban_regex(log: Path, filter_file: Path) -> str:
    done = subprocess.run([tool("fail2ban-regex"), "--print-all-matched", str(log), str(filter_file)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def lines_matched(report: str) -> tuple[int, int]:
    found = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched, (\d+) missed", report, re.MULTILINE)
    assert found, report
    return int(found.group(1)), int(found.group(2))


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory) -> Converged:
    if os.geteuid() != 0:
        pytest.skip("the role writes root-owned files: run as root (CI and ./scripts/test in the container do)")
    stock = Path("/etc/fail2ban")
    tool("fail2ban-client")
    if not (stock / "jail.conf").is_file():
        pytest.skip("fail2ban is not installed (./scripts/test installs it with apt-get)")
    base = tmp_path_factory.mktemp("fail2ban")
    # app1: clients reach it directly; app2: behind a load balancer; db1: no web server.
    hosts = {name: Host(base / name / "fail2ban", base / name / "log" / "nginx") for name in ("app1", "app2", "db1")}
    for host in hosts.values():
        shutil.copytree(stock, host.fail2ban_dir)  # the distribution's configuration, as on a host
    inventory: dict[str, dict[str, dict[str, object]]] = {
        "app": {name: {"appliance_fail2ban_dir": str(hosts[name].fail2ban_dir),
                       "appliance_nginx_log_dir": str(hosts[name].log_dir)} for name in ("app1", "app2")},
        "db": {"db1": {"appliance_fail2ban_dir": str(hosts["db1"].fail2ban_dir),
                       "appliance_nginx_log_dir": str(hosts["db1"].log_dir)}},
    }
    inventory["app"]["app2"]["appliance_load_balancers"] = ["192.0.2.10"]
    values = {"appliance_install_packages": False, "appliance_systemd": False,
              "appliance_fail2ban_ignore_networks": ["10.0.0.0/24"]}
    runs = []
    for _ in range(2):
        play = run_role_tasks(base / "play", "hardening", "fail2ban.yml", inventory, values,
                              extra_path=Path(tool("fail2ban-client")).parent)
        assert play.returncode == 0, play.output[-6000:]
        runs.append(play.output)
    return Converged(hosts, runs[0], runs[1])


def recaps(output: str) -> dict[str, tuple[int, int, int]]:
    """Each host's (changed, unreachable, failed) from the play recap."""
    return {m.group(1): (int(m.group(3)), int(m.group(4)), int(m.group(5))) for m in RECAP.finditer(output)}


def test_the_fail2ban_tasks_converge_and_a_second_run_changes_nothing(converged: Converged) -> None:
    first = recaps(converged.first)
    assert set(first) == {"app1", "app2", "db1"}
    assert all(changed > 0 and (unreachable, failed) == (0, 0) for changed, unreachable, failed in first.values())
    assert set(recaps(converged.second).values()) == {(0, 0, 0)}, changed_tasks(converged.second)
    # The role checked what it wrote (and the run would have stopped otherwise).
    check = re.search(r"TASK \[[^\]]*hardening : Check fail2ban's configuration \(fail2ban-client -t\)\][^\n]*\n"
                      r"((?:ok: \[\w+\]\n)+)", converged.second)
    assert check and len(check.group(1).splitlines()) == 3, converged.second[-3000:]


def test_the_rendered_configuration_passes_fail2ban_client_t(converged: Converged) -> None:
    for name, host in converged.hosts.items():
        done = fail2ban_client(host.fail2ban_dir)
        assert done.returncode == 0 and "OK: configuration test is successful" in done.stdout + done.stderr, (
            name, done.stdout + done.stderr)
        jails = (host.fail2ban_dir / "jail.d" / "appliance.local").read_text()
        assert "ignoreip = 127.0.0.1/8 ::1 10.0.0.0/24\n" in jails
        assert "banaction = nftables-multiport" in jails
        # fail2ban's own log (it names banned addresses) goes to the journal and its retention.
        assert "logtarget = SYSTEMD-JOURNAL" in (host.fail2ban_dir / "fail2ban.d" / "appliance.local").read_text()


def test_only_app_hosts_that_clients_reach_directly_get_the_sign_in_jail(converged: Converged) -> None:
    app1 = converged.hosts["app1"]
    jails = (app1.fail2ban_dir / "jail.d" / "appliance.local").read_text()
    assert "[appliance-signin]" in jails and f"logpath = {app1.log_dir}/appliance.signin.log" in jails
    assert "port = 80,443" in jails and "maxretry = 20" in jails
    log = app1.log_dir / "appliance.signin.log"
    assert log.is_file() and (log.stat().st_mode & 0o777, log.owner(), log.group()) == (0o640, "www-data", "adm")
    # The filter goes everywhere (harmless); the jail and the log only where they can work.
    for name in ("app2", "db1"):
        host = converged.hosts[name]
        assert "[appliance-signin]" not in (host.fail2ban_dir / "jail.d" / "appliance.local").read_text(), name
        assert not host.log_dir.exists(), name
    # Debian's jail.d/defaults-debian.conf turns sshd on against /var/log/auth.log; ours wins.
    dump = subprocess.run([tool("fail2ban-client"), "-c", str(app1.fail2ban_dir), "-d"], capture_output=True,
                          text=True, timeout=120)
    assert "['add', 'sshd', 'systemd']" in dump.stdout, dump.stdout[-3000:]
    assert "['add', 'appliance-signin', 'polling']" in dump.stdout
    assert "['set', 'sshd', 'maxretry', 5]" in dump.stdout


def test_a_broken_fail2ban_configuration_stops_the_role(converged: Converged, tmp_path: Path) -> None:
    broken = tmp_path / "fail2ban"
    shutil.copytree(converged.hosts["db1"].fail2ban_dir, broken)
    (broken / "jail.d" / "zz-local.local").write_text("[nonsense]\nenabled = true\nfilter = no-such-filter\n")
    play = run_role_tasks(tmp_path / "play", "hardening", "fail2ban.yml",
                          {"db": {"db1": {"appliance_fail2ban_dir": str(broken)}}},
                          {"appliance_install_packages": False, "appliance_systemd": False},
                          extra_path=Path(tool("fail2ban-client")).parent)
    assert play.returncode != 0
    assert failed_task(play.output).endswith("hardening : Check fail2ban's configuration (fail2ban-client -t)")


def test_the_sign_in_filter_matches_staff_failures_and_never_a_reporter(converged: Converged,
                                                                      tmp_path: Path) -> None:
    """Sample lines in nginx's two formats: a staff sign-in failure in the sign-in log matches;
    a reporter's request (were one ever logged, in the access log's format) holds no address and
    does not match."""
    filter_file = converged.hosts["app1"].fail2ban_dir / "filter.d" / "appliance-signin.conf"
    staff = '2026-12-06T07:20:01+00:00 client=203.0.113.5 "POST /staff/login HTTP/2.0" 401'
    reporter = '2026-12-06T07:20:02+00:00 "POST /r/demo/follow-up HTTP/2.0" 429 162 0.004'
    assert not ADDRESS.search(reporter.split(" ", 1)[1])
    sample = tmp_path / "sample.log"
    sample.write_text(f"{staff}\n{reporter}\n")
    report = fail2ban_regex(sample, filter_file)
    assert lines_matched(report) == (1, 1), report
    assert "203.0.113.5" in report


def test_fail2ban_bans_from_what_nginx_logs_about_staff_and_nothing_about_reporters(
        converged: Converged, stack: Stack) -> None:
    filter_file = converged.hosts["app1"].fail2ban_dir / "filter.d" / "appliance-signin.conf"
    # A staff client fails twice at the password (401, the application).
    staff = stack.client(source=STAFF)
    for _ in range(2):
        page = staff.get("/staff/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert token, page.text[:500]
        failed = staff.post_form("/staff/login", {"csrf_token": token.group(1), "email": "nobody@example.com",
                                                  "password": "wrong"})
        assert failed.status == 401
    # Another floods the sign-in until nginx itself refuses (429, limit_req).
    flooder = stack.client(source=FLOODER)
    for _ in range(40):
        flood = flooder.request("POST", "/staff/login", body=b"email=a%40b.example&password=x", headers=URLENCODED)
        if flood.status == 429:
            break
    assert flood.status == 429
    # A reporter reads the portal, guesses case keys until refused, and sends a report.
    reporter = stack.client(source=REPORTER)
    assert reporter.get("/r/demo/").status == 200
    for _ in range(30):
        guess = reporter.request("POST", "/r/demo/follow-up", body=b"case_key=AAAA-AAAA-AAAA-AAAA",
                                 headers=URLENCODED)
        if guess.status == 429:
            break
    assert guess.status == 429
    assert stack.client().get("/healthz").status == 200  # nginx's one worker has logged all of the above

    signin = stack.log_dir / "appliance.signin.log"
    lines = signin.read_text().splitlines()
    assert lines and all(re.search(rf' client=({STAFF}|{FLOODER}) "POST /staff/login HTTP/1.1" (401|429)$', line)
                         for line in lines), lines
    assert sum(f"client={STAFF} " in line for line in lines) == 2
    assert sum(f"client={FLOODER} " in line for line in lines) >= 1  # 400s (no CSRF token) are not failures
    report = fail2ban_regex(signin, filter_file)
    assert lines_matched(report) == (len(lines), 0), report
    assert report.count(STAFF) >= 2 and FLOODER in report
    for path in stack.log_dir.iterdir():
        text = path.read_text(errors="replace")
        assert REPORTER not in text and "/r/" not in text, f"{path.name} names the reporter:\n{text[-2000:]}"

