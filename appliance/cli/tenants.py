"""`appliance tenant create|list|categories`."""

from __future__ import annotations

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime


@click.group()
def tenant() -> None:
    """Tenants: the legal entities whose reports the appliance receives."""


@tenant.command("create")
@click.option("--name", required=True, help="Legal entity name, e.g. 'Example AB'.")
@click.option("--slug", required=True, help="Short URL name: the portal is /r/<slug>/.")
@json_option
@pass_runtime
def create(runtime: Runtime, name: str, slug: str, as_json: bool) -> None:
    """Create a tenant with its own key and default report categories."""
    with runtime.services() as services:
        created = services.tenants.create_tenant(name, slug, CLI)
        data = {"id": str(created.id), "slug": created.slug, "name": created.name}
    emit(as_json, data, lambda: click.echo(
        f"created tenant {data['slug']} ({data['name']}); portal: {runtime.settings.base_url}/r/{data['slug']}/"))


@tenant.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """List tenants."""
    with runtime.services() as services:
        rows = [{"id": str(t.id), "slug": t.slug, "name": t.name, "created_at": t.created_at.isoformat()}
                for t in services.tenants.list_tenants()]

    def text() -> None:
        if not rows:
            click.echo("no tenants yet; create one with `appliance tenant create`")
        for row in rows:
            click.echo(f"{row['slug']:<24} {row['name']}")

    emit(as_json, rows, text)
