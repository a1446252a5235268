"""`appliance keys escrow init|install`: the tenant's escrow key, made offline.

`init` needs only the installed package: no configuration, no database, no master key. Run
it on an offline machine (a laptop kept off the network, a live USB system): it writes the
private file (under a passphrase) and the public file. Only the public file ever comes to
the server, where `install` stores it and proposes it for the reader list; new reports are
sealed to it once a reader confirmed it in the web app after comparing its fingerprint.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.cli.users import read_password
from appliance.crypto.escrow_file import check_organisation, check_passphrase, read_public_file, write_escrow_files
from appliance.crypto.passwords import Argon2Params
from appliance.crypto.sealing import new_private_key
from appliance.crypto.signing import key_fingerprint, show_fingerprint
from appliance.errors import EscrowError, InvalidInput
from appliance.settings import CHECKOUT_CONFIG, SYSTEM_CONFIG, Settings

passphrase_option = click.option("--passphrase-stdin", is_flag=True,
                                 help="Read the escrow passphrase from the first line of stdin.")


@click.group()
def escrow() -> None:
    """The tenant's offline escrow key (made and held by the compliance lead, never by the server)."""


@escrow.command("init")
@click.option("--organisation", required=True, help="The organisation's slug on the appliance (e.g. example).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the PRIVATE key file (must not exist). Keep it offline.")
@click.option("--public-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the public key file for the server (default: --out with .public.txt).")
@click.option("--on-server", is_flag=True, hidden=True,
              help="Allow running where an appliance configuration exists (never on a production server).")
@passphrase_option
@json_option
def escrow_init(organisation: str, out: Path, public_out: Path | None, on_server: bool, passphrase_stdin: bool,
                as_json: bool) -> None:
    """Make a new escrow key pair on this (offline) machine: the private half goes only into
    --out, under a passphrase; the public half into --public-out, for `keys escrow install`."""
    check_organisation(organisation)
    public_out = public_out or out.with_name(out.name + ".public.txt")
    found = _appliance_config()
    if found is not None and not on_server:
        raise InvalidInput("machine", f"this machine has an appliance configuration ({found}): make the escrow key "
                                      "on an offline machine with only the package installed")
    for path in (out, public_out):
        if path.exists():
            raise InvalidInput("out", f"{path} already exists; refusing to overwrite it")
    passphrase = read_password(passphrase_stdin, "passphrase", confirm=True)
    check_passphrase(passphrase)
    private_text, public_text = write_escrow_files(organisation, new_private_key(), passphrase, _params(),
                                                   dt.datetime.now(dt.UTC))
    shown = show_fingerprint(read_public_file(public_text).key_fingerprint)
    _write_new_file(out, private_text, 0o600)
    _write_new_file(public_out, public_text, 0o644)
    data = {"organisation": organisation, "fingerprint": shown, "private_file": str(out),
            "public_file": str(public_out)}
    emit(as_json, data, lambda: click.echo(
        f"escrow key for {organisation}: fingerprint {shown}\n"
        f"  private (keep offline, apart from the passphrase): {out}\n"
        f"  public (copy to the server for `appliance keys escrow install`): {public_out}\n"
        "Write the fingerprint down: a reader compares it in the web app before confirming the key."))


@escrow.command("install")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The public file written by `keys escrow init` on the offline machine.")
@json_option
@pass_runtime
def escrow_install(runtime: Runtime, slug: str, public_key: Path, as_json: bool) -> None:
    """Install an escrow public key and propose it for the reader list. Nothing is sealed to it
    until a reader of the organisation confirms it in the web app; every reader is e-mailed."""
    try:
        text = public_key.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise EscrowError(f"cannot read {public_key}: {exc.strerror}") from None
    public = read_public_file(text)
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        key, change = services.case_key_pairs.install_escrow(tenant, public, CLI)
        data = {"tenant": tenant.slug, "escrow_key": str(key.id), "change": str(change.id),
                "fingerprint": show_fingerprint(key_fingerprint(public.box_public, public.sign_public)),
                "state": "pending"}
    emit(as_json, data, lambda: click.echo(
        f"escrow key {data['fingerprint']} installed for {data['tenant']}, pending: a reader confirms it on the "
        "Readers page after comparing the fingerprint; until then new reports are not sealed to it."))


def _params() -> Argon2Params:
    """RFC 9106's second recommended option, like staff passwords (APPLIANCE_ARGON2_* override it,
    read here without a configuration file)."""
    values = []
    for name in ("argon2_time_cost", "argon2_memory_kib", "argon2_parallelism"):
        raw = os.environ.get(f"APPLIANCE_{name.upper()}")
        try:
            values.append(int(raw) if raw else int(getattr(Settings, name)))
        except ValueError:
            raise InvalidInput(name, "must be a whole number") from None
    params = Argon2Params(*values)
    if params.time_cost < 1 or params.parallelism < 1 or params.memory_kib < 8 * params.parallelism:
        raise InvalidInput("argon2", "parameters are out of range")
    return params


def _appliance_config() -> Path | None:
    candidates = [Path(os.environ["APPLIANCE_CONFIG"])] if os.environ.get("APPLIANCE_CONFIG") else []
    candidates += [Path.cwd() / CHECKOUT_CONFIG, SYSTEM_CONFIG]
    return next((path for path in candidates if path.exists()), None)


def _write_new_file(path: Path, text: str, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise InvalidInput("out", f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
