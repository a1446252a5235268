"""`appliance audit verify|export`: prove the logbook untouched, copy a time range of it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

import click
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.chain import canonical
from appliance.audit.export import ExportPlan, LogbookExport
from appliance.audit.models import AuditEvent
from appliance.audit.verify import ChainReport
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import InvalidInput


@click.group()
def audit() -> None:
    """The logbook: prove it untouched, export a time range of it."""


@audit.command("verify")
@json_option
@pass_runtime
def verify(runtime: Runtime, as_json: bool) -> None:
    """Check the logbook's hash chain, from the newest signed checkpoint once old events were
    pruned (every checkpoint's signature too); names the first broken event, exit 1. The outcome
    is recorded (``audit.verified``), as the scheduler's and the auditor's room's are, so the room
    and /metrics show the newest check whoever made it."""
    with runtime.services() as services:
        total = _count_for_progress(services.session)
        with _progress("verifying", total) as step:
            report = services.chain_status.verify(CLI, progress=step)
    emit(as_json, asdict(report), lambda: click.echo(describe(report)))
    if not report.ok:
        sys.exit(1)


def describe(report: ChainReport) -> str:
    """The one line `audit verify` prints."""
    if not report.ok:
        return (f"logbook BROKEN at event {report.broken_seq}: {report.reason} "
                f"({report.events} events verified before it)")
    line = f"logbook OK: {report.events} events, chain intact"
    if report.checkpoint_seq is not None:
        line += (f" from event {report.from_seq} (older events pruned; "
                 f"{report.checkpoints} signed checkpoint(s) genuine)")
    return line


@audit.command("export")
@click.option("--since", required=True,
              help="ISO date or time, e.g. 2026-03-01 or 2026-03-01T08:00:00+01:00 (UTC without an offset).")
@click.option("--until", default=None, help="Stop before this time (same forms); default: the newest event.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "json"]), default="jsonl", show_default=True,
              help="jsonl: a header line, then one event per line; json: one document.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (replaced when complete) instead of standard output.")
@pass_runtime
def export(runtime: Runtime, since: str, until: str | None, fmt: str, out: Path | None) -> None:
    """Export the logbook's events from --since (up to --until) in chain order, with the anchor
    and last hash a reader needs to check the chain on its own. No personal data: actors and
    objects are ids. The export itself is recorded in the logbook."""
    start, stop = parse_time("--since", since), parse_time("--until", until) if until else None
    if stop is not None and stop <= start:
        raise InvalidInput("--until", "must be later than --since")
    with runtime.services() as services:
        exporter = LogbookExport(services.session)
        plan = exporter.plan(start, stop)
        with _output(out) as stream, _progress("exporting", plan.events) as step:
            write_export(stream, plan, exporter, fmt, step)
    with runtime.services() as services:
        services.logbook.record("audit.exported", CLI, object_type="logbook", detail=f"events={plan.events}")
    span = f" (events {plan.first_seq} to {plan.last_seq})" if plan.first_seq is not None else ""
    click.echo(f"exported {plan.events} events{span}" + (f" to {out}" if out else ""), err=True)


def parse_time(option: str, value: str) -> dt.datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC (as the logbook's times)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(option, f"{value!r} is not an ISO date or time, e.g. 2026-03-01 or 2026-03-01T08:00:00Z") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def write_export(stream: TextIO, plan: ExportPlan, exporter: LogbookExport, fmt: str,
                 step: Callable[[int], None] | None) -> None:
    """Each event as the canonical JSON the chain hashes, so the JSON lines form can be
    checked byte for byte: hash = sha256(previous hash + line)."""
    header = canonical(plan.header()).decode()
    stream.write(header + "\n" if fmt == "jsonl" else '{"export":' + header + ',"events":[\n')
    for index, fields in enumerate(exporter.events(plan)):
        line = canonical(fields).decode()
        stream.write(line + "\n" if fmt == "jsonl" else ("," if index else "") + line + "\n")
        if step:
            step(1)
    if fmt == "json":
        stream.write("]}\n")


@contextlib.contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    # A partial file never takes the name: a failed export leaves the previous one alone.
    partial = out.with_name(f".{out.name}.partial")
    try:
        stream = partial.open("w", encoding="ascii")
    except OSError as exc:
        raise InvalidInput("--out", f"cannot write {out}: {exc.strerror}") from None
    try:
        with stream:
            yield stream
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal's stderr; nothing for scripts and logs."""
    if total is None or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _count_for_progress(session: sa.orm.Session) -> int | None:
    # Counting is a second pass over the table: only worth it when someone watches.
    if not sys.stderr.isatty():
        return None
    return int(session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one())
