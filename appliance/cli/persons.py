"""`appliance person find|export|erase|reconcile|link-staff`: the person chain for GDPR requests.

Identifiers may be given as `-` to read them from stdin, so they stay out of the shell
history and the process list. Nothing here prints an identifier except `export`'s file.
Which cases name a person is sealed to the cases: these commands say so, and never list them.
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
from appliance.cases.reconcile import Converted
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.cli.users import read_password
from appliance.errors import EscrowError, InvalidInput
from appliance.operations.vault_copy import refresh_vault_copies
from appliance.persons.service import PersonDetails, PersonMatch, clean_details
from appliance.privacy.export import NAMED_IN_CASES
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
@click.option("--held-cases-checked", is_flag=True,
              help="The compliance team confirmed that no case under legal hold names the person (the server "
                   "cannot see which cases do).")
@json_option
@pass_runtime
def erase(runtime: Runtime, email: str | None, national_id: str | None, person_id: uuid.UUID | None, dry_run: bool,
          held_cases_checked: bool, as_json: bool) -> None:
    """Delete every link to the person and destroy their key (copies in old backups stay unreadable).

    What cases recorded about the person is sealed under a key that needs theirs: it becomes
    unreadable too, in every case and backup. All matching person records are erased together,
    or none: a legal hold, a legal retention period or a staff account that holds a case's only
    key copy blocks it, with the reason."""
    with runtime.services() as services:
        ids = _person_ids(services, email, national_id, person_id)
        plans = [services.person_eraser.plan(i, held_cases_checked) for i in ids]
        blocked = [reason for plan in plans for reason in plan.blocked]
        if not dry_run and not blocked:
            plans = [services.person_eraser.erase(i, CLI, held_cases_checked) for i in ids]
    erased = not dry_run and not blocked
    vault = refresh_vault_copies(runtime.context, prune=True) if erased else None
    data = {"dry_run": dry_run, "erased": erased, "blocked": blocked,
            "persons": [{"id": str(p.person_id), "deleted": p.deleted, "case_entries_shredded": p.shreds_case_entries}
                        for p in plans],
            "vault_copies": {"replaced_at": vault.copied, "failed": vault.failures} if vault else None}

    def text() -> None:
        for plan in plans:
            counts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(plan.deleted.items()))
            verb = "erased" if plan.done else "would erase"
            click.echo(f"person {plan.person_id}: {verb} {counts}")
            if plan.shreds_case_entries:
                click.echo(f"  and {'shredded' if plan.done else 'would shred'} what any case recorded about them "
                           "(sealed to the cases: the server cannot count them)")
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


@person.command("reconcile")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--escrow-file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The offline escrow key file written by `keys escrow init`.")
@click.option("--passphrase-stdin", is_flag=True, help="Read the escrow passphrase from the first line of stdin.")
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Cases converted per committed transaction.")
@json_option
@pass_runtime
def reconcile(runtime: Runtime, slug: str, escrow_file: Path, passphrase_stdin: bool, batch: int,
              as_json: bool) -> None:
    """With the tenant's escrow key: seal to their cases the persons named before case-sealed
    entries, and delete the person records no case names any more (with their vault shares).

    The server cannot do either alone: only a case's key shows whom it names. Each case opened
    is in the logbook. Safe to stop and run again: every batch is committed."""
    try:
        text = escrow_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise EscrowError(f"cannot read {escrow_file}: {exc.strerror}") from None
    passphrase = read_password(passphrase_stdin, "passphrase", confirm=False)
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        unlocked = services.case_key_pairs.unlock_escrow(tenant, text, passphrase, CLI)
        key_id, private = unlocked.key.id, unlocked.private_key
        todo = services.person_reconciler.cases_to_convert(tenant.id)
    total = Converted()
    for start in range(0, len(todo), batch):
        with runtime.services() as services:
            done = services.person_reconciler.convert(services.tenants.by_slug(slug), key_id, private,
                                                      todo[start:start + batch], CLI)
        total.opened += done.opened
        total.converted += done.converted
        total.locked += done.locked
        if not as_json and sys.stderr.isatty():
            click.echo(f"{slug}: {min(start + batch, len(todo))}/{len(todo)} case(s) converted", err=True)
    with runtime.services() as services:
        swept = services.person_reconciler.sweep(services.tenants.by_slug(slug), key_id, private, CLI)
    vault = None
    if swept.deleted:  # committed: now their shares, so no earlier backup opens them again
        runtime.context.vault.delete(swept.deleted)
        vault = refresh_vault_copies(runtime.context, prune=True)
    data = {"tenant": slug, "cases_converted": total.opened, "persons_converted": total.converted,
            "cases_locked": total.locked, "persons_deleted": len(swept.deleted),
            "sweep_blocked_by": swept.unreadable,
            "vault_copies": {"replaced_at": vault.copied, "failed": vault.failures} if vault else None}
    emit(as_json, data, lambda: click.echo(
        f"{slug}: sealed {total.converted} person(s) named the old way in {total.opened} case(s) to their case; "
        f"deleted {len(swept.deleted)} person record(s) no case names"))
    if total.locked or swept.unreadable:
        cases = sorted(set(total.locked) | set(swept.unreadable))
        click.echo(f"error: the escrow key cannot open {len(cases)} case(s) ({', '.join(cases[:5])}"
                   f"{' …' if len(cases) > 5 else ''}): they were sealed before it existed or are still under the "
                   "tenant key (`appliance keys seal-existing`); a handler opening them converts them, then run this "
                   "again" + ("; no person record was deleted" if swept.unreadable else ""), err=True)
        sys.exit(1)
    if vault is not None and vault.failures:
        name, reason = next(iter(vault.failures.items()))
        click.echo(f"error: the vault copy at site {name} still holds the deleted shares ({reason}); "
                   "run `appliance backup copy` when the site is back", err=True)
        sys.exit(1)


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
                        for link in match.links],
            "named_in_cases": NAMED_IN_CASES if match.named_in_cases else None}


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
        if match.named_in_cases:
            click.echo(f"  named in cases of {match.tenant}: which cases, and what they record, is sealed to the "
                       "cases; only the compliance team can see it")
    if matches:
        click.echo("Reporter contact addresses are sealed to their cases and cannot be searched: ask the "
                   "compliance team; retention deletes them with the case.")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
