"""Run one task file of a role for real through ansible-playbook, on this host.

For the parts of the hardening role that can run in the test container without changing the
host (fail2ban's configuration under a temp directory; the firewall against a stand-in for
ufw that records what it is told): a play over an inventory of made-up hosts, all reached
with a local connection, next to deploy/ansible/group_vars (so the defaults load as they do
for site.yml, below the inventory's host variables), with the test's values on top.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.test_ansible import ANSIBLE_DIR, SYSTEM_PYTHON, ansible_env, ansible_tool

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": SYSTEM_PYTHON}


@dataclass
class Play:
    returncode: int
    output: str


def run_role_tasks(work: Path, role: str, tasks_from: str, hosts: dict[str, dict[str, dict[str, object]]],
                   values: dict[str, object] | None = None, environment: dict[str, str] | None = None,
                   extra_path: Path | None = None) -> Play:
    """``tasks_from`` of ``role`` on every host of ``hosts`` ({group: {host: hostvars}})."""
    work.mkdir(parents=True, exist_ok=True)
    inventory = work / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {
        group: {"hosts": {name: {**LOCAL, **hostvars} for name, hostvars in members.items()}}
        for group, members in hosts.items()}}}))
    playbook = work / "play.json"
    if not (work / "group_vars").exists():
        (work / "group_vars").symlink_to(ANSIBLE_DIR / "group_vars")
    task: dict[str, object] = {"name": f"The {role} role's {tasks_from}", "ansible.builtin.include_role": {
        "name": str(ANSIBLE_DIR / "roles" / role), "tasks_from": tasks_from}}
    play: dict[str, object] = {"name": f"{role}: {tasks_from}", "hosts": "all", "gather_facts": False,
                               "tasks": [task]}
    if environment:
        play["environment"] = environment
    playbook.write_text(json.dumps([play]))
    extra = work / "values.json"
    extra.write_text(json.dumps(values or {}))
    env = ansible_env(ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"))
    if extra_path is not None:
        env["PATH"] = f"{extra_path}:{env['PATH']}"
    done = subprocess.run([ansible_tool("ansible-playbook"), "-i", str(inventory), str(playbook), "-e", f"@{extra}"],
                          cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=600)
    return Play(done.returncode, done.stdout + done.stderr)
