"""`appliance readers list|propose|withdraw`: who can read an organisation's reports.

The command line can only look and propose: a proposal changes nothing until a reader on
the list confirms it in the web app with their own key, and every reader and administrator
of the organisation is e-mailed about it.
"""

from __future__ import annotations

import uuid

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.cli.users import user_id_of
from appliance.errors import InvalidInput
from appliance.readers.overview import Overview, overview

tenant_option = click.option("--tenant", "slug", required=True, help="The tenant's slug.")
CHANGES = ("add", "add-not-receiving", "remove", "receive", "stop-receiving")


@click.group()
def readers() -> None:
    """The reader list: whose keys an organisation's reports are sealed to."""


@readers.command("list")
@tenant_option
@json_option
@pass_runtime
def list_readers(runtime: Runtime, slug: str, as_json: bool) -> None:
    """Show the confirmed readers, the escrow key and the changes waiting for a reader."""
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        found = overview(services.readers, services.users, tenant.id)
    emit(as_json, _as_data(found), lambda: _print(slug, found))


@readers.command("propose")
@tenant_option
@click.option("--email", required=True, help="The handler concerned.")
@click.option("--change", "kind", type=click.Choice(CHANGES), required=True,
              help="add (receives new reports), add-not-receiving (only cases shared with them), remove, "
                   "receive, stop-receiving.")
@json_option
@pass_runtime
def propose(runtime: Runtime, slug: str, email: str, kind: str, as_json: bool) -> None:
    """Propose a change; it takes effect only when a reader confirms it in the web app."""
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        user_id = user_id_of(services, email)
        lists = services.readers
        if kind.startswith("add"):
            row = lists.propose_add(tenant.id, user_id, CLI, "cli", receives=kind == "add")
        elif kind == "remove":
            row = lists.propose_remove(tenant.id, user_id, CLI, "cli")
        else:
            row = lists.propose_receives(tenant.id, user_id, kind == "receive", CLI, "cli")
        data = {"change": str(row.id), "kind": row.kind, "state": row.state}
    emit(as_json, data, lambda: click.echo(
        f"proposed ({data['change']}); every reader is e-mailed, and a reader confirms or rejects it on the "
        "Readers page"))


@readers.command("withdraw")
@tenant_option
@click.option("--change", "change_id", required=True, help="The pending change's id (`readers list`).")
@json_option
@pass_runtime
def withdraw(runtime: Runtime, slug: str, change_id: str, as_json: bool) -> None:
    """Withdraw a pending change that was proposed on the command line."""
    try:
        parsed = uuid.UUID(change_id)
    except ValueError:
        raise InvalidInput("change", "is not a change id") from None
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        services.readers.withdraw_cli(tenant.id, parsed, CLI)
    emit(as_json, {"change": change_id, "state": "withdrawn"}, lambda: click.echo(f"withdrawn {change_id}"))


def _as_data(found: Overview) -> dict[str, object]:
    return {
        "started": found.started, "entries": found.seq, "problem": found.problem,
        "readers": [{"email": r.email, "fingerprint": r.fingerprint, "receives": r.receives,
                     "key_current": r.key_current} for r in found.readers],
        "escrow": [{"fingerprint": e.fingerprint} for e in found.escrow],
        "pending": [{"change": str(p.change_id), "kind": p.kind, "email": p.email, "fingerprint": p.fingerprint,
                     "receives": p.receives, "proposed_by": p.proposed_by or p.proposed_via,
                     "proposed_at": p.created_at.isoformat()} for p in found.pending],
    }


def _print(slug: str, found: Overview) -> None:
    if found.problem:
        click.echo(f"{slug}: the reader list DOES NOT VERIFY ({found.problem}); new reports are refused")
    elif not found.started:
        click.echo(f"{slug}: no reader list yet; a handler starts it on their Readers page")
    else:
        click.echo(f"{slug}: {len(found.readers)} reader(s), entry {found.seq}")
    for reader in found.readers:
        flags = "receives new reports" if reader.receives else "shared cases only"
        if not reader.key_current:
            flags += "; has a new key waiting for confirmation"
        click.echo(f"  {reader.email:<32} {reader.fingerprint}  {flags}")
    for escrow in found.escrow:
        click.echo(f"  escrow key                       {escrow.fingerprint}")
    for item in found.pending:
        who = item.proposed_by or item.proposed_via
        click.echo(f"  PENDING {item.kind:<8} {item.email or '':<24} {item.fingerprint or '':<40} by {who} "
                   f"({item.change_id})")
