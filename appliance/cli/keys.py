"""`appliance keys recover|grant|seal-existing`: the keys that open cases; and (in
``appliance.cli.escrow``) `keys escrow init|install`, (in ``appliance.cli.key_rotation``)
`keys status|rotate|new-master|rotate-master`."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.actors import CLI
from appliance.cases.key_admin import UnlockedEscrow
from appliance.cli import key_rotation
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.cli.escrow import escrow, passphrase_option
from appliance.cli.users import read_password, user_id_of
from appliance.errors import EscrowError, InvalidInput
from appliance.services import Services
from appliance.tenants.models import Tenant

tenant_option = click.option("--tenant", "slug", required=True, help="The tenant's slug.")
escrow_file_option = click.option("--escrow-file", type=click.Path(dir_okay=False, path_type=Path), required=True,
                                  help="The private escrow key file written by `keys escrow init` (read in "
                                       "memory only, never stored).")


@click.group()
def keys() -> None:
    """Keys: the offline escrow key, recovering handlers' access, sealing old cases, key status and rotation."""


for _command in (key_rotation.status, key_rotation.rotate, key_rotation.new_master, key_rotation.rotate_master,
                 escrow):
    keys.add_command(_command)


@keys.command("recover")
@tenant_option
@click.option("--email", required=True, help="The handler whose access to restore (after a password reset).")
@escrow_file_option
@passphrase_option
@json_option
@pass_runtime
def recover(runtime: Runtime, slug: str, email: str, escrow_file: Path, passphrase_stdin: bool,
            as_json: bool) -> None:
    """Restore a handler's access to the cases they had before their password was reset."""
    with runtime.services() as services:
        tenant, unlocked = _unlock(services, slug, escrow_file, passphrase_stdin)
        result = services.case_key_pairs.recover_user(tenant, unlocked, user_id_of(services, email), CLI)
        data = {"restored": result.done, "skipped": result.skipped}
    emit(as_json, data, lambda: click.echo(_resealed_line("restored access to", data)))


@keys.command("grant")
@tenant_option
@click.option("--email", required=True, help="The handler to give access.")
@click.option("--case", "references", multiple=True, help="A case reference (repeatable).")
@click.option("--all-cases", is_flag=True, help="Every case of the tenant.")
@escrow_file_option
@passphrase_option
@json_option
@pass_runtime
def grant(runtime: Runtime, slug: str, email: str, references: tuple[str, ...], all_cases: bool,
          escrow_file: Path, passphrase_stdin: bool, as_json: bool) -> None:
    """Give a handler access to existing cases with the escrow key (e.g. a new colleague)."""
    if bool(references) == all_cases:
        raise InvalidInput("case", "name cases with --case REF, or pass --all-cases")
    with runtime.services() as services:
        tenant, unlocked = _unlock(services, slug, escrow_file, passphrase_stdin)
        result = services.case_key_pairs.grant_with_escrow(tenant, unlocked, user_id_of(services, email),
                                                      None if all_cases else list(references), CLI)
        data = {"granted": result.done, "skipped": result.skipped}
    emit(as_json, data, lambda: click.echo(_resealed_line("granted access to", data)))


@keys.command("seal-existing")
@click.option("--tenant", "slug", help="The tenant's slug (default: every tenant).")
@json_option
@pass_runtime
def seal_existing(runtime: Runtime, slug: str | None, as_json: bool) -> None:
    """Convert cases from before sealed keys (tenant-wrapped) to sealed keys, in batches.

    Each case is sealed to the tenant's report recipients (handlers who have signed in since
    the upgrade) and its escrow key; afterwards the master key no longer opens it. Safe to
    stop and run again: every batch is committed."""
    with runtime.services() as services:
        slugs = [slug] if slug else [t.slug for t in services.tenants.list_tenants()]
    summary: dict[str, int] = {}
    for name in slugs:
        with runtime.services() as services:
            total = services.case_key_pairs.unsealed_count(services.tenants.by_slug(name))
        done = 0
        while done < total:
            with runtime.services() as services:
                sealed = services.case_key_pairs.seal_existing_batch(services.tenants.by_slug(name), CLI)
            if sealed == 0:
                break
            done += sealed
            if not as_json:
                click.echo(f"{name}: sealed {done}/{total}", err=True)
        summary[name] = done
    emit(as_json, summary, lambda: click.echo(
        "; ".join(f"{name}: {count} case(s) sealed" for name, count in summary.items()) or "no tenants"))


def read_passphrase(from_stdin: bool, confirm: bool = False) -> str:
    return read_password(from_stdin, "passphrase", confirm)


def _unlock(services: Services, slug: str, escrow_file: Path, passphrase_stdin: bool) -> tuple[Tenant, UnlockedEscrow]:
    try:
        text = escrow_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise EscrowError(f"cannot read {escrow_file}: {exc.strerror}") from None
    tenant = services.tenants.by_slug(slug)
    return tenant, services.case_key_pairs.unlock_escrow(tenant, text, read_passphrase(passphrase_stdin), CLI)


def _resealed_line(verb: str, data: dict[str, int]) -> str:
    counts = list(data.values())
    line = f"{verb} {counts[0]} case(s)"
    if counts[1]:
        line += f"; {counts[1]} case(s) were sealed before this escrow key existed and stay as they are"
    return line
