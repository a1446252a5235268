"""`appliance init` and `appliance db upgrade|status`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from appliance.actors import CLI
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.context import build_context, database_holds_persons
from appliance.crypto.keys import MasterKey
from appliance.errors import SettingsError, VaultMissing
from appliance.keys.secrets import record_master_key
from appliance.migrations import runner
from appliance.settings import build_settings, render_config


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("var"),
              show_default=True, help="Where the config, master key and embedded database go.")
@click.option("--database-url", default=None,
              help="postgresql+psycopg://… or mssql+pymssql://…; default: embedded SQLCipher file.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="The public URL people use (https:// in production).")
@json_option
def init(data_dir: Path, database_url: str | None, base_url: str, as_json: bool) -> None:
    """Create a configuration, a master key (mode 0400) and the database schema."""
    data_dir = data_dir.resolve()
    config_path = data_dir / "appliance.toml"
    if config_path.exists():
        raise SettingsError("APPLIANCE_CONFIG", f"{config_path} already exists; refusing to overwrite it")
    values: dict[str, object] = {
        "database_url": database_url or f"sqlite+pysqlcipher:///{data_dir / 'appliance.db'}",
        "master_key_file": str(data_dir / "master.key"),
        "data_dir": str(data_dir),
        "base_url": base_url,
        "cookie_secure": base_url.startswith("https://"),
    }
    settings = build_settings(values, base_dir=data_dir)  # validate before touching disk
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if not settings.master_key_file.exists():
        MasterKey.create(settings.master_key_file)
    context = build_context(settings, create_database=True)
    try:
        runner.upgrade(context.engine)
        context.vault.ensure_schema()
        with context.unit_of_work() as session:  # a wrong key file is one clear line from now on
            record_master_key(session, context.master, context.clock)
    finally:
        context.close()
    config_path.write_text(render_config(values), "utf-8")
    os.chmod(config_path, 0o600)
    emit(as_json, {"config": str(config_path), "master_key_file": str(settings.master_key_file),
                   "backend": settings.backend},
         lambda: click.echo(f"initialised {data_dir}\n  config:     {config_path}\n"
                            f"  master key: {settings.master_key_file} (mode 0400; back it up offline)\n"
                            f"  database:   {settings.backend}\n"
                            f"Later commands find it through APPLIANCE_CONFIG={config_path}"))


@click.group()
def db() -> None:
    """Database schema: migrations and status."""


@db.command("upgrade")
@pass_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Apply pending migrations (expand/contract: safe while the old version serves)."""
    try:
        engine = runtime.context.engine
    except VaultMissing:
        # An upgrade from before the person chain: there was no vault yet, so make it. With
        # persons in the database the vault was lost: that needs `backup restore-vault`.
        if database_holds_persons(runtime.settings):
            raise
        engine = runtime.context_creating_vault().engine
    runtime.context.vault.ensure_schema()  # with the DDL rights this run has (the service has none)
    before, head = runner.current_revision(engine), runner.head_revision()
    if before == head:
        click.echo(f"schema is up to date ({head})")
    else:
        click.echo(f"schema at {before or 'empty'}; upgrading to {head}", err=True)
        runner.upgrade(engine)
        click.echo(f"schema at {runner.current_revision(engine)}")
        with runtime.services() as services:  # data steps that need the keys (alembic has none)
            linked = services.users.link_existing_to_persons(CLI)
        if linked:
            click.echo(f"linked {linked} staff account(s) to person records")
        bound = 0
        while True:  # committed in batches: a large install does not hold one long transaction
            with runtime.services() as services:
                done = services.case_key_pairs.bind_existing()
            if not done:
                break
            bound += done
            click.echo(f"bound {bound} case key pair(s) to their cases", err=True)
    with runtime.context.unit_of_work() as session:  # installs from before it record their master key now
        record_master_key(session, runtime.context.master, runtime.context.clock)
    with runtime.services() as services:
        waiting = [t.slug for t in services.tenants.list_tenants() if services.readers.checked_state(t.id) is None]
    if waiting:
        click.echo(f"next: start the reader list of {', '.join(waiting)}: a handler starts it on their Readers page "
                   "and the compliance lead confirms the fingerprint; until then the channel accepts no report "
                   "(README, \"Upgrading to 0.3\")", err=True)


@db.command("status")
@json_option
@pass_runtime
def db_status(runtime: Runtime, as_json: bool) -> None:
    """Show the current and the newest schema revision."""
    current = runner.current_revision(runtime.context.engine)
    head = runner.head_revision()
    emit(as_json, {"current": current, "head": head, "up_to_date": current == head},
         lambda: click.echo(f"current {current or 'empty'}, newest {head}"
                            + ("" if current == head else " — run `appliance db upgrade`")))
