"""What the IT admin reads first: the help, the exit codes, the lines of the commonest failures,
and `jobs list` and `doctor` telling the whole story. In this process (cli_in_process.py) on
both databases; the console script as a subprocess only where the process matters."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import appliance.errors
from appliance.actors import Role
from appliance.cli import users as user_commands
from appliance.cli.base import EXIT_CODES, first_sentence
from appliance.cli.doctor import DOCTOR_CHECKS
from appliance.cli.main import cli
from appliance.context import AppContext
from appliance.errors import ApplianceError
from appliance.jobs.scheduler import Scheduler
from appliance.services import Services
from tests.functional.cli_in_process import Console
from tests.functional.conftest import Org, StaffFactory
from tests.functional.console import APPLIANCE, offline
from tests.support import FrozenClock

PASSWORD = "a good one-time password"


def help_of(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def every_command(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += every_command(command, (*path, name))
    return found


@pytest.fixture
def console(ctx: AppContext, services: Services) -> Console:
    return Console(ctx, services)


# --- help -----------------------------------------------------------------------------------------
def test_the_command_lists_show_whole_first_sentences() -> None:
    listings = [help_of()] + [help_of(*path) for path, c in every_command() if isinstance(c, click.Group)]
    for listing in listings:
        assert "..." not in listing.split("Commands:")[1].split("Exit codes:")[0], listing
    top = " ".join(help_of().split())
    assert "Insider lists (MAR Art. 18): list the sections, export them for the competent authority" in top
    assert "Run the scheduled jobs (backups, prune, verify, reminders) in this process; only the scheduler " \
           "holding the database lease runs them, others stand by" in top
    assert first_sentence("One, e.g. two. Three.") == "One, e.g. two"


def test_every_option_of_every_command_says_what_it_is() -> None:
    missing = [(path, param.name) for path, command in every_command() for param in command.params
               if isinstance(param, click.Option) and not param.help]
    assert missing == []
    assert "Tenant slug" in help_of("user", "list")


def test_the_exit_codes_are_listed_and_cover_every_error() -> None:
    text = help_of()
    listed = {int(code) for code in re.findall(r"^\s+(\d+)\s{2}", text.split("Exit codes:")[1], re.MULTILINE)}
    assert listed == {code for code, _ in EXIT_CODES}
    raised = {cls.exit_code for cls in vars(appliance.errors).values()
              if isinstance(cls, type) and issubclass(cls, ApplianceError)}
    assert raised <= listed
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    for code, meaning in EXIT_CODES:
        assert f"| {code} | {meaning} |" in readme, code


def test_doctor_help_lists_every_check() -> None:
    text = help_of("doctor")
    for name, what in DOCTOR_CHECKS:
        assert f"{name:<17} {what}" in text, name


# --- not found is its own exit code and names the value --------------------------------------------
def test_not_found_names_the_value_and_is_not_a_usage_error(console: Console, org_a: Org, make_staff: StaffFactory) -> None:
    code, line = console.fails("user", "list", "--tenant", "nowhere")
    assert (code, line) == (6, "error: tenant nowhere not found")
    email = "known@example.com"
    make_staff((org_a.tenant, Role.HANDLER), email=email)
    code, line = console.fails("user", "grant", "--email", email, "--tenant", "nowhere", "--role", "admin")
    assert (code, line) == (6, "error: tenant nowhere not found")
    # An e-mail address is personal data: the line says which option, not the address.
    code, line = console.fails("user", "disable", "--email", "secret.person@example.com")
    assert code == 6 and "user with the e-mail address given not found" in line and "secret.person" not in line
    # click's own refusals stay 2.
    assert console.run("user", "list").exit_code == 2
    assert console.run("user", "list", "--tenant", "alpha", "--no-such-option").exit_code == 2


# --- the password rule comes before the password ------------------------------------------------------
def test_the_password_rule_is_said_before_it_is_asked(console: Console, org_a: Org,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(user_commands, "interactive", lambda: True)
    result = console.run("user", "create", "--tenant", "alpha", "--email", "new@example.com", "--role", "handler",
                         stdin=f"short\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    rule = result.stderr.index("at least 12 characters")
    assert rule < result.output.index("Password:")
    assert "error: password: must be at least 12 characters; try again" in result.stderr
    assert "created new@example.com" in result.stdout
    assert "at least 12 characters" in help_of("user", "create") and "at least 12" in help_of("user", "set-password")


# --- jobs list: runs by hand and the scheduler's lease ------------------------------------------------
def test_jobs_list_counts_runs_by_hand_and_says_who_holds_the_lease(console: Console, ctx: AppContext,
                                                                      clock: FrozenClock) -> None:
    console.ok("jobs", "run", "logbook-verify")
    listing = console.json("jobs", "list")
    verify = next(j for j in listing["jobs"] if j["job"] == "logbook-verify")
    assert verify["manual_24h"] == 1 and verify["last_outcome"] == "ok"
    assert listing["runs"][0]["trigger"] == "by hand"
    assert listing["scheduler"] == {"running": False, "holder": None, "lease_expires_at": None}
    assert "scheduler: none holds the lease" in console.ok("jobs", "list")

    clock.now += dt.timedelta(minutes=1)
    scheduler = Scheduler(ctx, holder="app1:4242")
    assert scheduler.run_scheduled("logbook-verify") == "ok"  # it keeps the lease it took
    listing = console.json("jobs", "list")
    verify = next(j for j in listing["jobs"] if j["job"] == "logbook-verify")
    assert verify["manual_24h"] == 1 and listing["runs"][0]["trigger"] == "scheduled"
    assert listing["scheduler"]["running"] is True and listing["scheduler"]["holder"] == "app1:4242"
    text = console.ok("jobs", "list")
    assert "scheduler: app1:4242 holds the lease" in text and "1 run by hand in 24 h" in text
    # While it holds the lease a run by hand is refused (standby): one line, exit 1.
    assert console.fails("jobs", "run", "logbook-verify") == (
        1, "error: logbook-verify not run: another scheduler holds the lease (it runs the jobs)")


# --- doctor counts its warnings ---------------------------------------------------------------------
def test_doctor_ends_with_the_number_of_warnings(console: Console, org_a: Org) -> None:
    result = console.run("doctor")
    report = console.json("doctor")
    warned = sum(c["status"] == "warn" for c in report["checks"])
    assert report["ok"] is True and report["warnings"] == warned > 0  # no backups, one site, no SMTP...
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines()[-1] == f"doctor: {warned} warnings; nothing failed"
    assert "all checks passed" not in result.stdout


# --- a missing configuration: which path, and why that one -----------------------------------------
def test_a_missing_config_names_the_path_and_how_it_was_chosen(tmp_path: Path) -> None:
    result = offline(tmp_path / "nowhere", "tenant", "list")
    assert result.returncode == 78
    assert ("/etc/appliance/appliance.toml does not exist (the default: APPLIANCE_CONFIG is not set and there is "
            "no var/appliance.toml in the current directory)") in result.stderr
    assert APPLIANCE.exists()
