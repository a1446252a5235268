"""`appliance keys status|rotate|new-master|rotate-master`: key versions and their rotation."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.clock import utcnow
from appliance.crypto.keys import MasterKey
from appliance.errors import InvalidInput
from appliance.operations.key_status import KeyStatus, ScopeStatus, key_status
from appliance.operations.master_rotation import MasterKeyRotation, MasterRotationReport
from appliance.operations.rotation import DEFAULT_BATCH, Scope, Started, key_rotations


@click.command("status")
@json_option
@pass_runtime
def status(runtime: Runtime, as_json: bool) -> None:
    """Show the master key id, each tenant's and the installation's key versions, the rows under
    each version, unfinished rotations, content keys sealed or legacy and the preserved secrets'
    purposes. Never shows key material."""
    with runtime.services() as services:
        found = key_status(services.session, runtime.context.master)
    emit(as_json, dataclasses.asdict(found), lambda: _print_status(found))


def _print_status(found: KeyStatus) -> None:
    click.echo(f"master key {found.master_key_id}"
               + ("" if found.recorded_master_key_id else " (not yet recorded in the database)"))
    for scope in (found.installation, *found.tenants):
        _print_scope(scope)
    click.echo(f"preserved secrets: {', '.join(found.preserved_secrets) or 'none (all derived from the master key)'}")


def _print_scope(scope: ScopeStatus) -> None:
    line = f"{scope.name}: " + (f"key v{scope.current_version}" if scope.current_version else "no key yet")
    for table, versions in scope.rows.items():
        counts = ", ".join(f"v{v}: {n}" for v, n in sorted(versions.items())) or "none"
        line += f"; {table} {counts}"
    if scope.rows_on_old_versions:
        line += f"; {scope.rows_on_old_versions} row(s) on older versions"
    if scope.content_keys is not None:
        line += f"; content keys sealed {scope.content_keys['sealed']}, legacy {scope.content_keys['legacy']}"
    if scope.unfinished_rotation:
        rotation = scope.unfinished_rotation
        line += (f"; UNFINISHED rotation to v{rotation.target_version} ({rotation.rows_done} row(s) moved, started "
                 f"{rotation.started_at:%Y-%m-%d %H:%M} UTC): run `appliance keys rotate` again")
    click.echo(line)


@click.command("rotate")
@click.option("--tenant", "slug", default=None, help="Rotate this tenant's key.")
@click.option("--installation", is_flag=True, help="Rotate the installation's key (staff persons).")
@click.option("--all", "every", is_flag=True, help="The installation's key and every tenant's.")
@click.option("--batch", type=click.IntRange(1, 10_000), default=DEFAULT_BATCH, show_default=True,
              help="Rows moved per transaction.")
@json_option
@pass_runtime
def rotate(runtime: Runtime, slug: str | None, installation: bool, every: bool, batch: int, as_json: bool) -> None:
    """Make a new key version and move every row under an older one to it, batch by batch, while
    the appliance keeps serving. Interrupted, it resumes where it stopped when run again."""
    if sum((slug is not None, installation, every)) != 1:
        raise InvalidInput("scope", "give one of --tenant SLUG, --installation or --all")
    with runtime.services() as services:
        if every:
            scopes = [Scope(None, "installation")] + [Scope(t.id, t.slug) for t in services.tenants.list_tenants()]
        elif slug is not None:
            tenant = services.tenants.by_slug(slug)
            scopes = [Scope(tenant.id, tenant.slug)]
        else:
            scopes = [Scope(None, "installation")]
    summary = {scope.label: _rotate_scope(runtime, scope, batch, as_json) for scope in scopes}
    emit(as_json, summary, lambda: None)


def _rotate_scope(runtime: Runtime, scope: Scope, batch: int, quiet: bool) -> dict[str, Any]:
    with runtime.services() as services:
        started = key_rotations(services).start_or_resume(scope, CLI)
    if not quiet:
        verb = "resuming the unfinished rotation" if started.resumed else "rotating"
        click.echo(f"{scope.label}: {verb} to key v{started.target_version}, {started.rows_left} row(s) to move",
                   err=True)
    moved = _move_rows(runtime, scope, started, batch, quiet)
    with runtime.services() as services:
        finished = key_rotations(services).finish(scope, started.rotation_id, CLI)
    if not quiet:
        click.echo(f"{scope.label}: {'now on' if finished else 'NOT finished at'} key v{started.target_version}"
                   + ("" if finished else ": rows were written under an old version meanwhile; run again"))
    return {"target_version": started.target_version, "resumed": started.resumed, "rows_moved": moved,
            "finished": finished}


def _move_rows(runtime: Runtime, scope: Scope, started: Started, batch: int, quiet: bool) -> int:
    """One committed transaction per batch; a bar on a terminal, a line per batch otherwise."""
    total, moved = started.rows_left, 0
    tty = not quiet and sys.stderr.isatty()
    with click.progressbar(length=total, label=scope.label, file=sys.stderr) if tty else _NoBar() as bar:
        while True:
            with runtime.services() as services:
                seen = key_rotations(services).run_batch(scope, started.rotation_id, CLI, batch)
            if not seen:
                return moved
            moved += seen
            bar.update(seen)
            if not quiet and not tty:
                click.echo(f"{scope.label}: {min(moved, total)}/{total} row(s)", err=True)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def update(self, _count: int) -> None:
        return None


@click.command("new-master")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the new key file (must not exist).")
@json_option
def new_master(out: Path, as_json: bool) -> None:
    """Write a new random master key file (32 bytes, mode 0400), for `keys rotate-master`."""
    key = MasterKey.create(out)
    emit(as_json, {"file": str(out), "key_id": key.key_id},
         lambda: click.echo(f"new master key {key.key_id} written to {out} (mode 0400)"))


@click.command("rotate-master")
@click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The new master key (from `appliance keys new-master`).")
@click.option("--keep-old", is_flag=True,
              help="Keep the old key file next to the new one as master.key.retired-<id>.")
@json_option
@pass_runtime
def rotate_master(runtime: Runtime, new_key_file: Path, keep_old: bool, as_json: bool) -> None:
    """Replace the master key: rewrap every tenant and installation key and the preserved secrets
    under the new key, rekey the embedded database and install the new key file. Stop the web
    app and the scheduler first. Interrupted, run it again with the same --new-key-file."""
    from appliance.cli.backup import progress_printer, refuse_while_a_scheduler_runs

    settings = runtime.settings
    rotation = MasterKeyRotation(settings, new_key_file, utcnow, CLI, progress_printer(as_json))
    refuse_while_a_scheduler_runs(settings)
    report = rotation.run(keep_old)
    emit(as_json, dataclasses.asdict(report), lambda: _print_master(report, new_key_file))


def _print_master(report: MasterRotationReport, new_key_file: Path) -> None:
    click.echo(f"master key {report.old_key_id} replaced by {report.new_key_id}"
               + (" (finished an interrupted rotation)" if report.resumed else "")
               + f": {report.tenant_keys} tenant and {report.installation_keys} installation key(s) rewrapped"
               + (", database file re-encrypted" if report.database_rekeyed else ""))
    for site, outcome in sorted(report.sites.items()):
        click.echo(f"site {site}: {outcome}")
    if report.retired_key_file:
        click.echo(f"the old key is kept as {report.retired_key_file}")
    click.echo(f"Back up the new key offline, then delete {new_key_file} (shred -u). Backups taken before now "
               f"need the old key {report.old_key_id}. Start the appliance again.")
