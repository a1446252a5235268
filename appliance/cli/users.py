"""`appliance user create|list|grant|revoke|disable|enable|reset-2fa|set-password`."""

from __future__ import annotations

import sys
import uuid

import click

from appliance.actors import CLI, Role
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.crypto.passwords import MIN_PASSWORD_LENGTH, check_password_strength
from appliance.errors import InvalidInput
from appliance.services import Services

ROLE_CHOICE = click.Choice([r.value for r in Role])
email_option = click.option("--email", required=True, help="The user's e-mail address (their login).")
PASSWORD_RULE = f"at least {MIN_PASSWORD_LENGTH} characters, not repetitive"
password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help=f"Read the one-time password ({PASSWORD_RULE}) from the first line of stdin.")


def interactive() -> bool:
    """Whether a person types at a terminal (tests replace this to answer the prompts)."""
    return sys.stdin.isatty()


def read_staff_password(from_stdin: bool) -> str:
    """A one-time staff password: the rule is said before it is asked, and checked before the
    confirmation (not after both were typed)."""
    if not from_stdin and interactive():
        click.echo(f"The one-time password: {PASSWORD_RULE}. They choose their own at the first sign-in.", err=True)
        while True:
            password = str(click.prompt("Password", hide_input=True))
            try:
                check_password_strength(password)
            except InvalidInput as exc:
                click.echo(f"error: {exc}; try again", err=True)
                continue
            if click.prompt("Repeat for confirmation", hide_input=True) == password:
                return password
            click.echo("error: the two entered values do not match; try again", err=True)
    return read_password(from_stdin)


def read_password(from_stdin: bool, what: str = "password", confirm: bool = True) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput(what, "nothing on standard input")
        return password
    if not sys.stdin.isatty():
        raise InvalidInput(what, f"no terminal to ask on; pass --{what}-stdin")
    return str(click.prompt(what.capitalize(), hide_input=True, confirmation_prompt=confirm))


@click.group()
def user() -> None:
    """Staff accounts: compliance officers, administrators, auditors, analysts."""


@user.command("create")
@click.option("--tenant", "slug", required=True, help="Tenant slug the role applies to.")
@email_option
@click.option("--role", "roles", type=ROLE_CHOICE, multiple=True, required=True, help="Repeat for several.")
@password_stdin_option
@json_option
@pass_runtime
def create(runtime: Runtime, slug: str, email: str, roles: tuple[str, ...], password_stdin: bool,
           as_json: bool) -> None:
    """Create a user and print the TOTP provisioning URI once (scan it into an authenticator).

    Asks for a one-time password (at least 12 characters) unless --password-stdin is given."""
    password = read_staff_password(password_stdin)
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        created, enrolment = services.users.create_user(
            email, password, [(tenant.id, Role(r)) for r in roles], CLI, with_totp=True)
        assert enrolment is not None
        data = {"id": str(created.id), "email": email.strip().lower(), "tenant": slug, "roles": list(roles),
                "totp_uri": enrolment.uri, "totp_secret": enrolment.secret}
    emit(as_json, data, lambda: click.echo(
        f"created {data['email']} ({', '.join(roles)} in {slug})\n"
        f"TOTP (shown once; scan into an authenticator app):\n  {enrolment.uri}\n"
        "The password is a one-time one: at the first sign-in they choose their own (and get their key then)."))


def user_id_of(services: Services, email: str) -> uuid.UUID:
    return services.users.by_email(email).id


@user.command("list")
@click.option("--tenant", "slug", required=True, help="Tenant slug (`appliance tenant list` shows them).")
@json_option
@pass_runtime
def list_(runtime: Runtime, slug: str, as_json: bool) -> None:
    """List the users holding a role in a tenant."""
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        rows: list[dict[str, object]] = [
                {"id": str(u.id), "email": u.email, "roles": sorted(r for t, r in u.roles if t == tenant.id),
                 "disabled": u.disabled, "two_factor": u.two_factor}
                for u in services.users.users_in(frozenset({tenant.id}))]

    def text() -> None:
        for row in rows:
            flags = ("disabled " if row["disabled"] else "") + ("" if row["two_factor"] else "2fa-pending")
            roles = ",".join(str(r) for r in row["roles"])  # type: ignore[attr-defined]
            click.echo(f"{row['email']:<40} {roles:<24} {flags}")

    emit(as_json, rows, text)


def _role_command(name: str, summary: str, past: str) -> None:
    """grant and revoke differ only in the service call and the wording."""

    @user.command(name, help=summary)
    @email_option
    @click.option("--tenant", "slug", required=True, help="Tenant slug the role applies to.")
    @click.option("--role", type=ROLE_CHOICE, required=True, help="The role to give or take away.")
    @pass_runtime
    def command(runtime: Runtime, email: str, slug: str, role: str) -> None:
        with runtime.services() as services:
            change = services.users.grant_role if name == "grant" else services.users.revoke_role
            change(user_id_of(services, email), services.tenants.by_slug(slug).id, Role(role), CLI)
        click.echo(f"{past} {role} in {slug}")


_role_command("grant", "Give a user a role in a tenant.", "granted")
_role_command("revoke", "Take a role in a tenant away from a user.", "revoked")


@user.command("disable")
@email_option
@pass_runtime
def disable(runtime: Runtime, email: str) -> None:
    """Block a user from signing in and end their sessions."""
    with runtime.services() as services:
        services.users.set_disabled(user_id_of(services, email), True, CLI)
    click.echo("disabled; their sessions have ended")


@user.command("enable")
@email_option
@pass_runtime
def enable(runtime: Runtime, email: str) -> None:
    """Allow a disabled user to sign in again."""
    with runtime.services() as services:
        services.users.set_disabled(user_id_of(services, email), False, CLI)
    click.echo("enabled")


@user.command("reset-2fa")
@email_option
@json_option
@pass_runtime
def reset_2fa(runtime: Runtime, email: str, as_json: bool) -> None:
    """Forget a user's authenticator and recovery codes; prints a new TOTP URI once."""
    with runtime.services() as services:
        enrolment = services.users.reset_two_factor(user_id_of(services, email), CLI, with_totp=True)
        assert enrolment is not None
    emit(as_json, {"totp_uri": enrolment.uri, "totp_secret": enrolment.secret},
         lambda: click.echo(f"two-factor reset; new TOTP (shown once):\n  {enrolment.uri}"))


@user.command("set-password")
@email_option
@password_stdin_option
@pass_runtime
def set_password(runtime: Runtime, email: str, password_stdin: bool) -> None:
    """Set a one-time password for a user (ends their sessions). They choose their own at the
    next sign-in and get a new key pair then; their old key is gone with the old password
    (at least 12 characters)."""
    password = read_staff_password(password_stdin)
    with runtime.services() as services:
        services.users.set_password(user_id_of(services, email), password, CLI)
    click.echo("password set; their sessions have ended. At the next sign-in they choose their own password and "
               "get a new key; a reader confirms it on the Readers page (or the escrow holder with `appliance keys "
               "recover`, which also restores their case access), or a colleague shares the cases again")
