"""`appliance person find|export|erase|link-staff`: the person chain for GDPR requests.

Identifiers may be given as `-` to read them from stdin, so they stay out of the shell
history and the process list. Nothing here prints an identifier except `export`'s file.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from appliance.actors import CLI
from appliance.backup.vault_copy import refresh_vault_copies
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import InvalidInput
from appliance.persons.service import PersonDetails, PersonMatch, clean_details
from appliance.services import Services

email_option = click.option("--email", help="The person's e-mail address (`-`: read it from stdin).")
national_id_option = click.option("--national-id", help="The person's national ID (`-`: read it from stdin).")
id_option = click.option("--id", "person_id", type=click.UUID, help="A person id from `person find`.")


@click.group("person")
def person() -> None:
    """Find, export (GDPR Art. 15) and erase (Art. 17) everything held about a named person."""


@person.command("find")
@email_option
@national_id_option
@json_option
@pass_runtime
def find(runtime: Runtime, email: str | None, national_id: str | None, as_json: bool) -> None:
    """List every record linked to the person (tables, ids, counts), never their data."""
    details = _details(email, national_id)
    with runtime.services() as services:
        matches = services.persons.find(details)
        services.logbook.record("person.searched", CLI, detail=f"matches={len(matches)}")
    data = [_match_data(m) for m in matches]
    emit(as_json, data, lambda: _print_matches(matches))


@person.command("export")
@email_option
@national_id_option
@id_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The JSON file to write (mode 0600; must not exist).")
@json_option
@pass_runtime
def export(runtime: Runtime, email: str | None, national_id: str | None, person_id: uuid.UUID | None, out: Path,
           as_json: bool) -> None:
    """Write everything held about the person to a JSON file (their right of access)."""
    if out.exists():
        raise InvalidInput("out", f"{out} already exists; refusing to overwrite it")
    with runtime.services() as services:
        ids = _person_ids(services, email, national_id, person_id)
        persons = [services.person_export.export(i, CLI) for i in ids]
        document = {"format": "appliance-person-export/1", "persons": persons}
        _write_private(out, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    records = sum(len(p["records"]) for p in persons)
    emit(as_json, {"file": str(out), "persons": len(ids), "records": records},
         lambda: click.echo(f"wrote {len(ids)} person record(s) with {records} linked record(s) to {out} "
                            "(mode 0600). Hand it over securely, then delete it (shred -u)."))


@person.command("erase")
@email_option
@national_id_option
@id_option
@click.option("--dry-run", is_flag=True, help="Show what would be erased and what blocks it; change nothing.")
@json_option
@pass_runtime
def erase(runtime: Runtime, email: str | None, national_id: str | None, person_id: uuid.UUID | None, dry_run: bool,
          as_json: bool) -> None:
    """Delete every link to the person and destroy their key (copies in old backups stay unreadable).

    All matching person records are erased together, or none: a legal hold, a legal retention
    period or a staff account that holds a case's only key copy blocks it, with the reason."""
    with runtime.services() as services:
        ids = _person_ids(services, email, national_id, person_id)
        plans = [services.person_eraser.plan(i) for i in ids]
        blocked = [reason for plan in plans for reason in plan.blocked]
        if not dry_run and not blocked:
            plans = [services.person_eraser.erase(i, CLI) for i in ids]
    erased = not dry_run and not blocked
    vault = refresh_vault_copies(runtime.context, prune=True) if erased else None
    data = {"dry_run": dry_run, "erased": erased, "blocked": blocked,
            "persons": [{"id": str(p.person_id), "deleted": p.deleted} for p in plans],
            "vault_copies": {"replaced_at": vault.copied, "failed": vault.failures} if vault else None}

    def text() -> None:
        for plan in plans:
            counts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(plan.deleted.items()))
            verb = "erased" if plan.done else "would erase"
            click.echo(f"person {plan.person_id}: {verb} {counts}")
        for reason in blocked:
            click.echo(f"blocked: {reason}")
        if vault is not None:
            click.echo("the person key share is destroyed; vault copy replaced locally"
                       + (f" and at {', '.join(vault.copied)}" if vault.copied else ""))
    emit(as_json, data, text)
    if vault is not None and vault.failures:
        name, reason = next(iter(vault.failures.items()))
        click.echo(f"error: erased, but the vault copy at site {name} still holds the share ({reason}); "
                   "run `appliance backup copy` when the site is back", err=True)
        sys.exit(1)
    if blocked:
        click.echo(f"error: erasure blocked: {blocked[0]}" + (f" (and {len(blocked) - 1} more)"
                                                               if len(blocked) > 1 else ""), err=True)
        sys.exit(3)


@person.command("link-staff")
@json_option
@pass_runtime
def link_staff(runtime: Runtime, as_json: bool) -> None:
    """Give staff accounts from before the person chain their person record (idempotent)."""
    with runtime.services() as services:
        count = services.users.link_existing_to_persons(CLI)
    emit(as_json, {"linked": count}, lambda: click.echo(f"linked {count} staff account(s) to person records"))


def _details(email: str | None, national_id: str | None) -> PersonDetails:
    details = clean_details(None, _read(email), _read(national_id))
    if not details.identifiers():
        raise InvalidInput("email", "give --email or --national-id")
    return details


def _read(value: str | None) -> str | None:
    if value != "-":
        return value
    return sys.stdin.readline().strip()


def _person_ids(services: Services, email: str | None, national_id: str | None,
                person_id: uuid.UUID | None) -> list[uuid.UUID]:
    if person_id is not None:
        if email or national_id:
            raise InvalidInput("id", "give either --id or an identifier, not both")
        return [services.persons.get(person_id).id]
    matches = services.persons.find(_details(email, national_id))
    if not matches:
        raise InvalidInput("email", "no person with this identifier is recorded")
    return [m.person_id for m in matches]


def _match_data(match: PersonMatch) -> dict[str, Any]:
    return {"person_id": str(match.person_id), "scope": match.tenant or "installation",
            "identifiers": list(match.identifiers),
            "staff_user_id": str(match.staff_user_id) if match.staff_user_id else None,
            "records": [{"kind": link.kind, "table": link.object_type, "count": len(link.object_ids),
                         "ids": list(link.object_ids),
                         "retain_until": link.retain_until.isoformat() if link.retain_until else None}
                        for link in match.links]}


def _print_matches(matches: list[PersonMatch]) -> None:
    if not matches:
        click.echo("no person with this identifier is recorded")
    for match in matches:
        click.echo(f"person {match.person_id} ({match.tenant or 'installation'}; "
                   f"identified by {', '.join(match.identifiers)})")
        for link in match.links:
            ids = ", ".join(link.object_ids[:5]) + (" …" if len(link.object_ids) > 5 else "")
            kept = f"; kept until {link.retain_until.date()}" if link.retain_until else ""
            click.echo(f"  {link.kind.replace('_', ' ')}: {len(link.object_ids)} in {link.object_type} ({ids}){kept}")
    if matches:
        click.echo("Reporter contact addresses are sealed to their cases and cannot be searched: ask the "
                   "compliance team; retention deletes them with the case.")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
