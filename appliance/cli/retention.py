"""`appliance retention run|policy|hold`: deleting cases on time, and legal holds that stop it."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import InvalidInput
from appliance.operations.retention_run import RetentionFailed, RetentionReport, run_retention
from appliance.retention.service import HoldView, Policy

tenant_option = click.option("--tenant", "slug", required=True, help="The tenant's slug.")


@click.group()
def retention() -> None:
    """Retention: delete closed and never-acknowledged cases on time; legal holds keep them."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what is due; delete nothing.")
@json_option
@pass_runtime
def run(runtime: Runtime, dry_run: bool, as_json: bool) -> None:
    """Delete (or with --dry-run, list) every case past its tenant's policy and under no legal
    hold, each in its own transaction, then job runs older than JOB_RUN_RETENTION_DAYS.

    The scheduler runs this daily at RETENTION_AT. A case that fails is kept and named; the
    others are deleted, and the command exits non-zero."""
    # Progress is for someone watching a terminal; logs and scripts get the summary, and on
    # failure one line on stderr.
    watching = not as_json and sys.stderr.isatty()
    report = run_retention(runtime.context, CLI, dry_run,
                           progress=(lambda line: click.echo(line, err=True)) if watching else _quiet)
    emit(as_json, report.as_dict(), lambda: _print_report(report))
    if report.failed:
        raise RetentionFailed(len(report.failed), f"{len(report.deleted)} deleted")


@retention.group()
def policy() -> None:
    """How long a tenant keeps closed and never-acknowledged cases."""


@policy.command("show")
@tenant_option
@json_option
@pass_runtime
def policy_show(runtime: Runtime, slug: str, as_json: bool) -> None:
    """The tenant's policy (the defaults until one is set) and the installation-wide periods."""
    with runtime.services() as services:
        current = services.retention.policy(services.tenants.by_slug(slug).id)
    data = _policy_data(runtime, slug, current)
    emit(as_json, data, lambda: _print_policy(data))


@policy.command("set")
@tenant_option
@click.option("--closed-days", type=int, help="Delete closed cases this many days after closure (30-3650).")
@click.option("--unacknowledged-days", type=int,
              help="Delete cases nobody acknowledged this many days after receipt (90-3650).")
@click.option("--no-unacknowledged-limit", is_flag=True,
              help="Keep never-acknowledged cases until they are closed like any other.")
@json_option
@pass_runtime
def policy_set(runtime: Runtime, slug: str, closed_days: int | None, unacknowledged_days: int | None,
               no_unacknowledged_limit: bool, as_json: bool) -> None:
    """Change the tenant's policy; options left out keep their current value. Takes effect at the next run."""
    if unacknowledged_days is not None and no_unacknowledged_limit:
        raise InvalidInput("--unacknowledged-days", "cannot be combined with --no-unacknowledged-limit")
    if closed_days is None and unacknowledged_days is None and not no_unacknowledged_limit:
        raise InvalidInput("policy", "give --closed-days, --unacknowledged-days or --no-unacknowledged-limit")
    with runtime.services() as services:
        tenant_id = services.tenants.by_slug(slug).id
        current = services.retention.policy(tenant_id)
        unacknowledged = None if no_unacknowledged_limit else (
            unacknowledged_days if unacknowledged_days is not None else current.unacknowledged_case_days)
        try:
            updated = services.retention.set_policy(
                tenant_id, closed_days if closed_days is not None else current.closed_case_days, unacknowledged, CLI)
        except InvalidInput as exc:
            raise InvalidInput(OPTION_OF.get(exc.field, exc.field), exc.reason) from None
    data = _policy_data(runtime, slug, updated)
    emit(as_json, data, lambda: _print_policy(data))


@retention.group()
def hold() -> None:
    """Legal holds: while one is active, its case (or every case of the tenant) is never deleted."""


@hold.command("place")
@tenant_option
@click.option("--case", "case_reference", help="The case's reference (e.g. 7KQ2-M9XD); without it, the whole tenant.")
@click.option("--reference", required=True,
              help="The matter or file number the hold is for (at most 80 characters), not a name.")
@json_option
@pass_runtime
def hold_place(runtime: Runtime, slug: str, case_reference: str | None, reference: str, as_json: bool) -> None:
    """Place a legal hold on one case or on every case of the tenant."""
    with runtime.services() as services:
        placed = services.retention.place_hold(services.tenants.by_slug(slug).id, case_reference, reference, CLI)
    data = _hold_data(placed)
    emit(as_json, data, lambda: click.echo(f"legal hold {data['id']} placed on {_scope(data)}: {data['reference']}"))


@hold.command("release")
@tenant_option
@click.option("--id", "hold_id", required=True, help="The hold's id (see `retention hold list`).")
@json_option
@pass_runtime
def hold_release(runtime: Runtime, slug: str, hold_id: str, as_json: bool) -> None:
    """Release a legal hold; what it covered is deleted at the next run once due."""
    try:
        parsed = uuid.UUID(hold_id.strip())
    except ValueError:
        raise InvalidInput("--id", "is not a legal hold id (see `appliance retention hold list`)") from None
    with runtime.services() as services:
        released = services.retention.release_hold(parsed, services.tenants.by_slug(slug).id, CLI)
    data = _hold_data(released)
    emit(as_json, data, lambda: click.echo(f"legal hold {data['id']} on {_scope(data)} released"))


@hold.command("list")
@tenant_option
@click.option("--all", "include_released", is_flag=True, help="Include released holds.")
@json_option
@pass_runtime
def hold_list(runtime: Runtime, slug: str, include_released: bool, as_json: bool) -> None:
    """The tenant's active legal holds (with --all, released ones too)."""
    with runtime.services() as services:
        rows = [_hold_data(h) for h in services.retention.holds(services.tenants.by_slug(slug).id, include_released)]

    def text() -> None:
        if not rows:
            click.echo("no legal holds")
        for row in rows:
            state = f"released {row['released_at'][:10]}" if row["released_at"] else "active"
            click.echo(f"{row['id']}  {_scope(row):<18} {state:<19} placed {row['placed_at'][:10]}  {row['reference']}")

    emit(as_json, rows, text)


OPTION_OF = {"closed_case_days": "--closed-days", "unacknowledged_case_days": "--unacknowledged-days"}


def _quiet(_line: str) -> None:
    pass


def _policy_data(runtime: Runtime, slug: str, current: Policy) -> dict[str, Any]:
    settings = runtime.settings
    return {"tenant": slug, "closed_case_days": current.closed_case_days,
            "unacknowledged_case_days": current.unacknowledged_case_days, "default": current.is_default,
            "log_retention_days": settings.log_retention_days,
            "job_run_retention_days": settings.job_run_retention_days}


def _print_policy(data: dict[str, Any]) -> None:
    unacknowledged = data["unacknowledged_case_days"]
    click.echo(f"{data['tenant']}{' (defaults)' if data['default'] else ''}:")
    click.echo(f"  closed cases deleted {data['closed_case_days']} days after closure")
    click.echo(f"  never-acknowledged cases deleted {unacknowledged} days after receipt" if unacknowledged
               else "  never-acknowledged cases kept until closed")
    click.echo(f"  installation: logbook kept {data['log_retention_days']} days, "
               f"job runs {data['job_run_retention_days']} days")


def _hold_data(view: HoldView) -> dict[str, Any]:
    return {"id": str(view.id), "case": view.case_reference, "reference": view.reference,
            "placed_by": view.placed_by, "placed_at": view.placed_at.isoformat(),
            "released_at": view.released_at.isoformat() if view.released_at else None}


def _scope(data: dict[str, Any]) -> str:
    return f"case {data['case']}" if data["case"] else "the whole tenant"


def _print_report(report: RetentionReport) -> None:
    data = report.as_dict()
    verb = "would be deleted" if report.dry_run else "deleted"
    for tenant in data["tenants"]:
        click.echo(f"{tenant['tenant']}:")
        for case in tenant["cases"]:
            outcome = verb if case["outcome"] in ("due", "deleted") else case["outcome"]
            click.echo(f"  {case['reference']}  {case['reason']} since {case['since'][:10]}  {outcome}")
    cases = data["cases"]
    if report.dry_run:
        click.echo(f"dry run: {cases['due']} case(s) would be deleted")
    else:
        line = f"deleted {cases['deleted']} of {cases['due']} case(s) due"
        if cases["kept"]:
            line += f"; {cases['kept']} kept (a legal hold was placed or the case changed during the run)"
        if cases["failed"]:
            line += f"; {cases['failed']} failed and kept for the next run"
        click.echo(line)
    runs = report.job_runs
    click.echo(f"job runs older than {runs.cutoff:%Y-%m-%d}: {runs.due} "
               + ("would be deleted" if report.dry_run else f"due, {runs.deleted} deleted"))
    access = report.access_events
    if access is not None:
        click.echo(f"access events older than {access.cutoff:%Y-%m-%d}: {access.due} "
                   + ("would be deleted" if report.dry_run else f"due, {access.deleted} deleted"))
    events = report.logbook_events
    if events.due is None:
        click.echo(f"logbook events older than {events.cutoff:%Y-%m-%d}: not pruned by this command yet")
    else:
        click.echo(f"logbook events older than {events.cutoff:%Y-%m-%d}: {events.due} "
                   + ("would be deleted" if report.dry_run else f"due, {events.deleted} deleted"))
