"""`appliance api-token create|list|revoke`: bearer tokens for the JSON API (/api/v1/)."""

from __future__ import annotations

import uuid

import click

from appliance.actors import CLI
from appliance.api_tokens.service import Scope
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import InvalidInput


@click.group("api-token")
def api_token() -> None:
    """API tokens: one tenant each, with scopes and an optional expiry; the secret is shown once."""


@api_token.command("create")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--name", required=True, help="What the token is for, e.g. 'Hotline desk'.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice([s.value for s in Scope]),
              help="What it may do; repeat for several.")
@click.option("--expires-days", type=int, help="Expire after this many days (1-3650); default: never.")
@json_option
@pass_runtime
def create(runtime: Runtime, slug: str, name: str, scopes: tuple[str, ...], expires_days: int | None,
           as_json: bool) -> None:
    """Create a token and print it once: it is stored only as a keyed hash and cannot be shown again."""
    with runtime.services() as services:
        tenant = services.tenants.by_slug(slug)
        issued = services.api_tokens.create(tenant.id, name, scopes, expires_days, CLI)
    expiry = issued.view.expires_at.isoformat() if issued.view.expires_at else "never"
    emit(as_json, {"token": issued.token, "id": str(issued.view.id)}, lambda: click.echo(
        f"{issued.token}\ntoken {issued.view.id} for {slug} ({' '.join(issued.view.scopes)}), expires {expiry}; "
        "shown once, store it now"))


@api_token.command("list")
@click.option("--tenant", "slug", help="Only this tenant's tokens.")
@json_option
@pass_runtime
def list_(runtime: Runtime, slug: str | None, as_json: bool) -> None:
    """List tokens (never their secrets): id, tenant, name, scopes, state, expiry, last use."""
    with runtime.services() as services:
        tenants = {t.id: t.slug for t in services.tenants.list_tenants()}
        tenant_id = services.tenants.by_slug(slug).id if slug else None
        now = runtime.context.clock()
        rows = [{**view.as_dict(now), "tenant": tenants.get(view.tenant_id)}
                for view in services.api_tokens.list(tenant_id)]

    def text() -> None:
        if not rows:
            click.echo("no API tokens; create one with `appliance api-token create`")
        for row in rows:
            scopes = ",".join(row["scopes"])  # type: ignore[arg-type]
            click.echo(f"{row['id']}  {row['tenant']:<16} {row['state']:<8} {scopes:<40} "
                       f"expires {row['expires_at'] or 'never'}  {row['name']}")

    emit(as_json, rows, text)


@api_token.command("revoke")
@click.argument("token_id")
@json_option
@pass_runtime
def revoke(runtime: Runtime, token_id: str, as_json: bool) -> None:
    """Revoke a token at once (by the id `api-token list` shows)."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        raise InvalidInput("ID", "is not a token id (see `appliance api-token list`)") from None
    with runtime.services() as services:
        view = services.api_tokens.revoke(parsed, CLI)
    emit(as_json, {"id": str(view.id), "state": "revoked"}, lambda: click.echo(f"revoked token {view.id}"))
