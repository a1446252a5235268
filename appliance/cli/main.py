"""Entry point of the `appliance` console script."""

from __future__ import annotations

import logging
import os

import click

from appliance.audit.stream import stream_events_to_journal
from appliance.cli.api_tokens import api_token
from appliance.cli.audit import audit
from appliance.cli.backup import backup
from appliance.cli.base import EXIT_CODES_EPILOG, ApplianceGroup, summarise_whole_sentences
from appliance.cli.demo import demo
from appliance.cli.doctor import doctor
from appliance.cli.insiders import insiders
from appliance.cli.jobs import jobs, scheduler
from appliance.cli.keys import keys
from appliance.cli.ops import serve
from appliance.cli.persons import person
from appliance.cli.readers import readers
from appliance.cli.retention import retention
from appliance.cli.setup import db, init
from appliance.cli.tenants import tenant
from appliance.cli.users import user


@click.group(cls=ApplianceGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_EPILOG)
@click.version_option(package_name="appliance")
def cli() -> None:
    """Administer the compliance appliance: setup, tenants, users, logbook, health."""
    os.umask(0o077)  # every file the appliance writes (database, backups, keys) is private
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The logbook's JSON lines: never on stdout here (it carries the command's own output,
    # e.g. --json); `appliance scheduler` and the web app send them to stdout instead.
    stream_events_to_journal()


for command in (init, db, tenant, user, keys, readers, serve, audit, doctor, demo, backup, jobs, scheduler,
                person, retention, api_token, insiders):
    cli.add_command(command)
summarise_whole_sentences(cli)


def main() -> None:
    cli(prog_name="appliance")
