"""What `appliance keys status` shows: key ids, versions and row counts, never key material."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.cases.models import Case
from appliance.crypto.keys import MasterKey
from appliance.keys.models import InstallationKey, KeyRotation, PreservedSecret, TenantKey
from appliance.keys.secrets import MASTER_KEY_CHECK, recorded_master_key_id
from appliance.operations.rotation import Scope
from appliance.operations.wrapped_keys import REGISTRY, tables_for
from appliance.tenants.models import Tenant


@dataclass(frozen=True)
class RotationState:
    target_version: int
    rows_done: int
    started_at: dt.datetime


@dataclass
class ScopeStatus:
    """One tenant's (or the installation's) KEK: its versions and the rows under each."""

    name: str
    current_version: int | None
    # registry table -> {kek version: rows}
    rows: dict[str, dict[int, int]] = field(default_factory=dict)
    rows_on_old_versions: int = 0
    unfinished_rotation: RotationState | None = None
    content_keys: dict[str, int] | None = None  # tenants only: sealed | legacy (JSON "case_keys" before 0.4)


@dataclass
class KeyStatus:
    master_key_id: str
    recorded_master_key_id: str | None  # None: not recorded yet (an install from before)
    installation: ScopeStatus
    tenants: list[ScopeStatus]
    preserved_secrets: list[str]


def key_status(session: Session, master: MasterKey) -> KeyStatus:
    """Gather the status of every KEK scope in a few grouped queries."""
    tenants = list(session.execute(sa.select(Tenant).order_by(Tenant.slug)).scalars())
    tenant_versions = dict(session.execute(
        sa.select(TenantKey.tenant_id, sa.func.max(TenantKey.version)).group_by(TenantKey.tenant_id)).tuples().all())
    installation = ScopeStatus("installation", session.execute(
        sa.select(sa.func.max(InstallationKey.version))).scalar_one())
    content_keys = _content_keys(session)
    scopes: dict[uuid.UUID | None, ScopeStatus] = {None: installation}
    for tenant in tenants:
        scopes[tenant.id] = ScopeStatus(tenant.slug, tenant_versions.get(tenant.id),
                                        content_keys=content_keys.get(tenant.id, {"sealed": 0, "legacy": 0}))
    _count_rows(session, scopes)
    for rotation in session.execute(sa.select(KeyRotation).where(KeyRotation.finished_at.is_(None))).scalars():
        for tenant_id, status in scopes.items():
            if rotation.scope == Scope(tenant_id, status.name).key:
                status.unfinished_rotation = RotationState(rotation.target_version, rotation.rows_done,
                                                           rotation.started_at)
    purposes = sorted(session.execute(sa.select(PreservedSecret.purpose).where(
        PreservedSecret.purpose != MASTER_KEY_CHECK)).scalars())
    return KeyStatus(master.key_id, recorded_master_key_id(session), installation,
                     [scopes[t.id] for t in tenants], purposes)


def _count_rows(session: Session, scopes: dict[uuid.UUID | None, ScopeStatus]) -> None:
    for tenant_id, status in scopes.items():
        for entry in tables_for(tenant_id):
            status.rows[entry.name] = {}
    for entry in REGISTRY:  # one grouped count per table, for every scope at once
        filters = [entry.only] if entry.only is not None else []
        counts = session.execute(sa.select(entry.tenant_id, entry.version, sa.func.count())
                                 .where(*filters).group_by(entry.tenant_id, entry.version)).tuples()
        for tenant_id, version, count in counts:
            found = scopes.get(tenant_id)
            if found is None or version is None:
                continue
            found.rows.setdefault(entry.name, {})[int(version)] = int(count)
            if found.current_version is not None and version < found.current_version:
                found.rows_on_old_versions += int(count)


def _content_keys(session: Session) -> dict[uuid.UUID, dict[str, int]]:
    """Per tenant: cases whose content key is sealed under their case key pair, and legacy ones
    still wrapped under the tenant key."""
    legacy = sa.func.sum(sa.case((Case.wrapped_key.is_not(None), 1), else_=0))
    rows = session.execute(sa.select(Case.tenant_id, sa.func.count(), legacy).group_by(Case.tenant_id)).tuples()
    return {tenant_id: {"sealed": int(total) - int(old or 0), "legacy": int(old or 0)}
            for tenant_id, total, old in rows}
