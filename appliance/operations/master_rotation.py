"""Replacing the master key file: rewrap what hangs off it, rekey the embedded database, install
the new file. No row of data is touched: tenant and installation KEKs keep their values.

The appliance must be stopped (web, scheduler): a process still holding the old key would
wrap new tenant keys under it. The steps, in this order, each one safe to crash after:

1. every repository of a backup site whose password the master key derives learns the new
   key's password as well (``restic key add``), so a restore with no database needs only the
   new file; nothing else has changed yet;
2. one database transaction: every tenant and installation KEK rewrapped under the new master
   key, every preserved secret (``appliance.keys.secrets``) stored with its *current* value
   under the new key, and ``master-key-check`` set to the new key's id;
3. SQLite: the file is rekeyed to the new key's SQLCipher key (atomic in SQLCipher);
4. the new key file replaces the old one (temporary file + rename), the old one kept as
   ``master.key.retired-<id>`` only if asked.

After a crash between 2 and 4 the old key file no longer fits the database, and start-up says
so in one line; running the same command again (same ``--new-key-file``) sees how far the last
run got (which key the database is wrapped for, which key opens the SQLite file) and finishes.
Backups taken before the rotation still need the old key (their manifests record its id).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.backup.models import BackupCopy
from appliance.backup.sites import SiteUnreachable, add_repository_password, parse_sites
from appliance.clock import Clock
from appliance.context import build_context
from appliance.crypto.keys import MasterKey, install_key_file, sqlcipher_key
from appliance.db import check_database, create_engine, rekey_sqlcipher
from appliance.errors import Conflict, DatabaseUnavailable, DecryptionFailed, MasterKeyError
from appliance.keys.keyring import (
    opens_installation_key,
    rewrap_installation_key,
    rewrap_tenant_key,
    tenant_key_opens,
)
from appliance.keys.models import InstallationKey, PreservedSecret, TenantKey
from appliance.keys.secrets import (
    MASTER_KEY_CHECK,
    PRESERVED_PURPOSES,
    PreservedSecrets,
    recorded_master_key_id,
    restic_site_purpose,
    set_master_key_check,
    wrap_secret,
    wrong_master_key,
)
from appliance.settings import Settings

Progress = Callable[[str], None]


@dataclass
class MasterRotationReport:
    old_key_id: str
    new_key_id: str
    resumed: bool = False  # an earlier run had already rewrapped the database
    tenant_keys: int = 0
    installation_keys: int = 0
    preserved_secrets: list[str] = field(default_factory=list)
    database_rekeyed: bool = False
    retired_key_file: str | None = None
    sites: dict[str, str] = field(default_factory=dict)


def load_new_key(path: Path, current: MasterKey) -> MasterKey:
    """The new key file, checked like the live one (mode, size) and refused if it is the same key."""
    new = MasterKey.load(path)
    if new.key_id == current.key_id:
        raise Conflict(f"{path} holds the current master key ({current.key_id}); make a new one with "
                       "`appliance keys new-master --out FILE`")
    return new


class MasterKeyRotation:
    """One run of `appliance keys rotate-master`; owns its transactions, because the order of the
    database commit, the SQLCipher rekey and the key file rename is the point."""

    def __init__(self, settings: Settings, new_key_file: Path, clock: Clock, actor: Actor,
                 progress: Progress) -> None:
        self._settings = settings
        self._old = MasterKey.load(settings.master_key_file)
        self._new = load_new_key(new_key_file, self._old)
        self._clock = clock
        self._actor = actor
        self._progress = progress

    def run(self, keep_old: bool) -> MasterRotationReport:
        target = self._settings.master_key_file
        if not os.access(target.parent, os.W_OK):
            raise MasterKeyError(str(target), f"cannot write to {target.parent}; run as the appliance's user")
        report = MasterRotationReport(self._old.key_id, self._new.key_id)
        engine, file_rekeyed = self._open_database()
        try:
            with engine.connect() as connection:
                recorded = recorded_master_key_id(connection)
            if recorded == self._new.key_id:
                report.resumed = True
                self._progress(f"the database is already wrapped for {self._new.key_id}; finishing")
            elif recorded in (None, self._old.key_id) and not file_rekeyed:
                report.sites = self._prepare_sites(engine)
                self._rewrap(engine, report)
            else:
                raise wrong_master_key(self._old, recorded or "?", str(target))
        finally:
            engine.dispose()
        if self._settings.is_embedded and not file_rekeyed:
            self._progress("re-encrypting the database file under the new key")
            rekey_sqlcipher(self._database_path(), sqlcipher_key(self._old), sqlcipher_key(self._new))
            report.database_rekeyed = True
        retired = target.with_name(f"{target.name}.retired-{self._old.key_id}") if keep_old else None
        self._progress(f"installing the new key file at {target}")
        install_key_file(target, self._new, retired)
        report.retired_key_file = str(retired) if retired else None
        self._verify()
        return report

    # -- steps -------------------------------------------------------------------------------

    def _open_database(self) -> tuple[Engine, bool]:
        """An engine on the database and whether (SQLite) it is already under the new key."""
        if not self._settings.is_embedded:
            engine = create_engine(self._settings)
            _checked(engine)
            return engine, False
        try:
            return _checked(create_engine(self._settings, sqlcipher_key(self._old))), False
        except DatabaseUnavailable:
            pass
        try:  # an earlier run rekeyed the file and stopped before installing the key file
            return _checked(create_engine(self._settings, sqlcipher_key(self._new))), True
        except DatabaseUnavailable:
            raise DatabaseUnavailable("cannot open the embedded database with the current or the new master "
                                      "key") from None

    def _prepare_sites(self, engine: Engine) -> dict[str, str]:

        current = self._current_secrets(engine)
        with Session(engine) as session:
            held = set(session.execute(sa.select(BackupCopy.site).distinct()).scalars())
            session.rollback()
        outcomes: dict[str, str] = {}
        for spec in parse_sites(self._settings.backup_sites, self._settings.backup_site_passwords):
            if spec.password_file is not None:
                outcomes[spec.name] = "own password file"
                continue
            self._progress(f"site {spec.name}: adding the new key's password to its repository")
            purpose = restic_site_purpose(spec.name)
            try:
                outcomes[spec.name] = add_repository_password(
                    spec, current.secret(purpose).hex(), self._new.derive(purpose).hex(), self._settings,
                    spec.name in held)
            except SiteUnreachable as exc:
                raise Conflict(f"{exc}; every backup repository must learn the new key's password before the "
                               "rotation: nothing was changed (repair the site, or take it out of BACKUP_SITES)"
                               ) from None
        return outcomes

    def _rewrap(self, engine: Engine, report: MasterRotationReport) -> None:
        self._progress("rewrapping the tenant and installation keys and the preserved secrets")
        current = self._current_secrets(engine)
        with Session(engine) as session:
            if engine.dialect.name == "postgresql":  # no tenant key may be added meanwhile
                session.execute(sa.text("LOCK TABLE tenant_keys, installation_keys IN EXCLUSIVE MODE"))
            logbook = Logbook(session, self._clock)
            for tenant_key in session.execute(sa.select(TenantKey)).scalars():
                rewrap_tenant_key(tenant_key, self._old, self._new)
                logbook.record("key.unwrapped", self._actor, tenant_id=tenant_key.tenant_id, object_type="tenant_key",
                               object_id=f"{tenant_key.tenant_id}/v{tenant_key.version}")
                report.tenant_keys += 1
            for installation_key in session.execute(sa.select(InstallationKey)).scalars():
                rewrap_installation_key(installation_key, self._old, self._new)
                logbook.record("key.unwrapped", self._actor, object_type="installation_key",
                               object_id=f"v{installation_key.version}")
                report.installation_keys += 1
            report.preserved_secrets = self._preserve(session, current, report.sites)
            set_master_key_check(session, self._new, self._clock)
            logbook.record("master_key.rotated", self._actor, object_type="master_key", object_id=self._new.key_id,
                           detail=f"from {self._old.key_id}: {report.tenant_keys} tenant and "
                                  f"{report.installation_keys} installation key(s) rewrapped")
            session.commit()

    def _preserve(self, session: Session, current: PreservedSecrets, sites: dict[str, str]) -> list[str]:
        """Store the current value of every preserved purpose under the new key: the fixed list,
        the sites whose repository exists (a site with none yet starts under the new key), and
        whatever an earlier rotation stored."""
        stored = {row.purpose: row for row in session.execute(sa.select(PreservedSecret)).scalars()
                  if row.purpose != MASTER_KEY_CHECK}
        purposes = set(PRESERVED_PURPOSES) | set(stored)
        purposes |= {restic_site_purpose(name) for name, outcome in sites.items() if outcome in ("added", "already")}
        for purpose in sorted(purposes):
            wrapped = wrap_secret(self._new, purpose, current.secret(purpose))
            row = stored.get(purpose)
            if row is None:
                session.add(PreservedSecret(purpose=purpose, wrapped=wrapped, master_key_id=self._new.key_id,
                                            created_at=self._clock()))
            else:
                row.wrapped, row.master_key_id = wrapped, self._new.key_id
        session.flush()
        return sorted(purposes)

    def _verify(self) -> None:
        """Open the database as the appliance will from now on: with the installed file only."""
        context = build_context(self._settings, clock=self._clock)
        try:
            with context.sessions() as session:
                for row in session.execute(sa.select(TenantKey)).scalars():
                    if not tenant_key_opens(context.master, row.tenant_id, row.version, row.wrapped_key):
                        raise DecryptionFailed(f"tenant key {row.tenant_id}/v{row.version} after the rotation")
                for installation_key in session.execute(sa.select(InstallationKey)).scalars():
                    if not opens_installation_key(context.master, installation_key):
                        raise DecryptionFailed(f"installation key v{installation_key.version} after the rotation")
                session.rollback()
        finally:
            context.close()

    # -- helpers -----------------------------------------------------------------------------

    def _current_secrets(self, engine: Engine) -> PreservedSecrets:
        current = PreservedSecrets(self._old, engine)
        with engine.connect() as connection:
            current.load(connection)
        return current

    def _database_path(self) -> str:
        return self._settings.database_url.removeprefix("sqlite+pysqlcipher:///")


def _checked(engine: Engine) -> Engine:
    try:
        check_database(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
