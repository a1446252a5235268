"""`appliance demo setup`: a demo tenant and two users for trying the appliance locally."""

from __future__ import annotations

import json
import os
import secrets

import click

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.crypto import totp
from appliance.crypto.escrow_file import read_public_file, write_escrow_files
from appliance.crypto.sealing import new_private_key
from appliance.crypto.signing import key_fingerprint, show_fingerprint
from appliance.errors import NotFound
from appliance.readers.service import Signer
from appliance.services import Services
from appliance.tenants.models import Tenant

DEMO_SLUG = "demo"
ESCROW_FILE, ESCROW_PASSPHRASE = "demo-escrow-key.txt", "demo-escrow-passphrase.txt"
DEMO_USERS = (("admin@demo.example", (Role.ADMIN,)), ("handler@demo.example", (Role.HANDLER,)))


@click.group()
def demo() -> None:
    """Demo data for a local trial (never on a production install)."""


@demo.command("setup")
@json_option
@pass_runtime
def setup(runtime: Runtime, as_json: bool) -> None:
    """Create the demo tenant, an admin and a handler once; print their logins."""
    path = runtime.settings.data_dir / "demo-credentials.json"
    with runtime.services() as services:
        try:
            services.tenants.by_slug(DEMO_SLUG)
            exists = True
        except NotFound:
            exists = False
        if not exists:
            tenant = services.tenants.create_tenant("Demo Organisation AB", DEMO_SLUG, CLI)
            accounts, principals = [], []
            for email, roles in DEMO_USERS:
                password = secrets.token_urlsafe(12)
                # Demo only: the printed passwords count as the users' own, so they sign in at once.
                user, enrolment = services.users.create_user(email, password, [(tenant.id, r) for r in roles], CLI,
                                                             with_totp=True, chosen_by_user=True)
                assert enrolment is not None
                accounts.append({"email": email, "password": password, "roles": [r.value for r in roles],
                                 "totp_secret": enrolment.secret, "totp_uri": enrolment.uri})
                principals.append(services.users.principal(user.id, services.users.unlock_private_key(user.id,
                                                                                                       password)))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(accounts, handle, indent=2)
            admin, handler = principals
            _start_reader_list(services, tenant, handler, admin)
            # A real install makes the escrow key on an offline machine (`appliance keys escrow
            # init`); the demo keeps it next to the database so `appliance keys recover` can be tried.
            passphrase = " ".join(secrets.token_hex(3) for _ in range(5))
            private_text, public_text = write_escrow_files(DEMO_SLUG, new_private_key(), passphrase,
                                                           runtime.context.passwords.params, runtime.context.clock())
            _key, change = services.case_key_pairs.install_escrow(tenant, read_public_file(public_text), CLI)
            services.readers.confirm(tenant.id, change.id, Signer.user(handler), handler.actor)
            for name, content in ((ESCROW_FILE, private_text), (ESCROW_PASSPHRASE, passphrase + "\n")):
                fd = os.open(runtime.settings.data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(content)
    if not path.exists():
        click.echo("the demo tenant exists but its credentials file is gone; use `appliance user reset-2fa`",
                   err=True)
        return
    accounts = json.loads(path.read_text())
    base = runtime.settings.base_url
    clock = runtime.context.clock

    def text() -> None:
        click.echo(f"\n  Reporter portal:  {base}/r/{DEMO_SLUG}/")
        click.echo(f"  Staff sign-in:    {base}/staff/login\n")
        for account in accounts:
            click.echo(f"  {', '.join(account['roles']):<8} {account['email']:<24} password {account['password']}")
            click.echo(f"           TOTP secret {account['totp_secret']} (current code "
                       f"{totp.current_code(account['totp_secret'], clock())})")
        escrow = runtime.settings.data_dir / ESCROW_FILE
        if escrow.exists():
            click.echo(f"\n  Escrow key file  {escrow}\n  its passphrase   in {escrow.with_name(ESCROW_PASSPHRASE)}")
        click.echo("\n  Demo only: these secrets are printed because this is a local trial.\n")

    emit(as_json, {"portal": f"{base}/r/{DEMO_SLUG}/", "staff": f"{base}/staff/login", "accounts": accounts}, text)


def _start_reader_list(services: Services, tenant: Tenant, handler: StaffPrincipal, admin: StaffPrincipal) -> None:
    """What a handler and the compliance lead do on their pages: the handler asks to be the
    first reader, the lead types the fingerprint the handler reads out."""
    change = services.readers.request_start(tenant.id, handler)
    assert change.box_key is not None and change.sign_key is not None
    services.readers.confirm_start(tenant.id, change.id, admin,
                                   show_fingerprint(key_fingerprint(change.box_key, change.sign_key)))
