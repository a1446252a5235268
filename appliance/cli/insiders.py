"""`appliance insiders list|export`: insider lists (MAR Art. 18) for IT and the competent authority.

`list` shows ids, kinds, times and counts, never a code, name or reason. `export` writes a
section, or the whole list, as at a moment, in the template's columns to a new private file.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import InvalidInput
from appliance.insiders.exports import FORMATS
from appliance.insiders.templates import template_for

tenant_option = click.option("--tenant", "slug", required=True, help="The tenant's slug.")


@click.group("insiders")
def insiders() -> None:
    """Insider lists (MAR Art. 18): list the sections, export them for the competent authority."""


@insiders.command("list")
@tenant_option
@click.option("--as-at", "as_at", help="ISO date and time with zone (default: now).")
@json_option
@pass_runtime
def list_(runtime: Runtime, slug: str, as_at: str | None, as_json: bool) -> None:
    """List the tenant's sections: id, kind, identified, closed, insiders on it now and ever."""
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        moment = _moment(as_at) or runtime.context.clock()
        view = services.insider_history.as_at(tenant.id, moment, CLI)
    rows = [{"id": str(p.section.id), "kind": p.section.kind,
             "identified_at": p.section.identified_at.isoformat(),
             "closed_at": p.section.closed_at.isoformat() if p.section.closed_at else None,
             "updated_at": p.section.updated_at.isoformat(),
             "template": template_for(p.section.kind, view.as_at).regulation,
             "insiders_now": sum(1 for i in p.insiders if i.ceased is None or i.ceased > view.as_at),
             "insiders_ever": len(p.insiders)} for p in view.sections]

    def text() -> None:
        if not rows:
            click.echo(f"no insider-list sections for {slug} as at {view.as_at.isoformat()}")
        for row in rows:
            closed = f"closed {row['closed_at']}" if row["closed_at"] else "open"
            click.echo(f"{row['id']}  {row['kind']:<9} identified {row['identified_at']}  {closed}  "
                       f"{row['insiders_now']} insider(s) now, {row['insiders_ever']} ever  {row['template']}")

    emit(as_json, rows, text)


@insiders.command("export")
@tenant_option
@click.option("--section", "section_id", type=click.UUID, help="One section's id (from `insiders list`).")
@click.option("--all", "whole", is_flag=True, help="Every section of the list.")
@click.option("--format", "export_format", type=click.Choice(FORMATS), required=True,
              help="The file format, in the template's columns.")
@click.option("--as-at", "as_at", help="ISO date and time with zone (default: now).")
@click.option("--transmitted-on", "transmitted_on", type=click.DateTime(["%Y-%m-%d"]),
              help="Record that this export was transmitted to the competent authority on this date.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write (mode 0600; must not exist).")
@json_option
@pass_runtime
def export(runtime: Runtime, slug: str, section_id: uuid.UUID | None, whole: bool, export_format: str,
           as_at: str | None, transmitted_on: dt.datetime | None, output: Path, as_json: bool) -> None:
    """Write a section (--section) or the whole list (--all) as at a moment, in the template's columns."""
    if whole == (section_id is not None):
        raise InvalidInput("section", "give either --section ID or --all")
    if output.exists():
        raise InvalidInput("output", f"{output} already exists; refusing to overwrite it")
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        moment = _moment(as_at) or runtime.context.clock()
        data = services.insider_exports.export(tenant.id, section_id, export_format, moment, CLI)
        if transmitted_on is not None:
            services.insider_exports.record_transmission(tenant.id, section_id, export_format, moment,
                                                         transmitted_on.date(), CLI)
        _write_private(output, data)
    emit(as_json, {"file": str(output), "format": export_format, "bytes": len(data),
                   "section": str(section_id) if section_id else "all",
                   "transmitted_on": transmitted_on.date().isoformat() if transmitted_on else None},
         lambda: click.echo(f"wrote the insider list ({'section ' + str(section_id) if section_id else 'all sections'}) "
                            f"as {export_format} to {output} (mode 0600)"))


def _moment(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("as-at", "give an ISO date and time with its zone, e.g. 2026-09-01T12:00+00:00") from None
    if moment.tzinfo is None:
        raise InvalidInput("as-at", "give the time with its zone, e.g. 2026-09-01T12:00Z")
    return moment


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
