"""Online rotation of a tenant's (or the installation's) key-encryption key (KEK).

A rotation adds the next KEK version (new data is wrapped under it from then on) and a
``KeyRotation`` row, then moves every row of the registry (``appliance.operations.wrapped_keys``)
still wrapped under an older version, one batch per transaction, so the web app keeps serving:
reads use the version stored with each value, whichever side of the rotation it is on. Each
row is written with a compare-and-set on its version and wrapped bytes, so a row a concurrent
writer changed after the batch read it is left alone (and picked up again if still old).
Every batch commits the rows it moved together with ``rows_done``: after a crash, running the
rotation again resumes it at the first row still on an old version.

What the logbook gets: ``key.rotation_started`` and ``key.rotation_finished``; per batch, one
``key.unwrapped`` for each KEK version it unwraps (the old ones and the new one, kept for the
batch only) and one ``key.rewrapped`` per table naming how many data keys it unwrapped and
rewrapped. The data keys are never used to open anything during a rotation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import Conflict, DecryptionFailed
from appliance.keys.keyring import DataKeys
from appliance.keys.models import KeyRotation
from appliance.operations.wrapped_keys import WrappedKeyRows, tables_for
from appliance.services import Services

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class Scope:
    """Whose KEK: a tenant's (``tenant_id``), or the installation's (None)."""

    tenant_id: uuid.UUID | None
    label: str  # the tenant's slug, or "installation"

    @property
    def key(self) -> str:
        return "installation" if self.tenant_id is None else f"tenant:{self.tenant_id}"


@dataclass(frozen=True)
class Started:
    rotation_id: uuid.UUID
    target_version: int
    resumed: bool
    rows_done: int
    rows_left: int


class RowKeyUnreadable(DecryptionFailed):
    """A row's wrapped data key does not open: the rotation stops before changing that batch."""

    def __init__(self, table: str, row_id: uuid.UUID) -> None:
        super().__init__(table)
        self.table = table
        self.row_id = row_id

    def message(self) -> str:
        return (f"{self.table} row {self.row_id}: its wrapped key does not open (tampered or damaged); "
                "the rotation stopped, nothing in this batch was changed")


class BatchKeks:
    """The KEKs one batch needs, each unwrapped (and logged) once, dropped with the batch."""

    def __init__(self, data_keys: DataKeys, tenant_id: uuid.UUID | None, actor: Actor) -> None:
        self._data_keys = data_keys
        self._tenant_id = tenant_id
        self._actor = actor
        self._keks: dict[int, AESGCM] = {}

    def __call__(self, version: int) -> AESGCM:
        if version not in self._keks:
            self._keks[version] = self._data_keys.kek(self._tenant_id, version, self._actor)
        return self._keks[version]


class KeyRotationService:
    """Starts, resumes, advances and finishes KEK rotations; never commits."""

    def __init__(self, session: Session, data_keys: DataKeys, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._data_keys = data_keys
        self._logbook = logbook
        self._clock = clock

    def unfinished(self, scope: Scope) -> KeyRotation | None:
        return self._session.execute(
            sa.select(KeyRotation).where(KeyRotation.scope == scope.key, KeyRotation.finished_at.is_(None))
            .order_by(KeyRotation.started_at.desc()).limit(1)
        ).scalar_one_or_none()

    def start_or_resume(self, scope: Scope, actor: Actor) -> Started:
        """Resume the scope's unfinished rotation, or add the next KEK version and start one."""
        rotation = self.unfinished(scope)
        resumed = rotation is not None
        if rotation is None:
            try:
                with self._session.begin_nested():
                    target = self._new_kek(scope)
            except sa.exc.IntegrityError:
                raise Conflict(f"{scope.label}: another rotation added a key version at the same time; "
                               "run `appliance keys rotate` again to resume it") from None
            rotation = KeyRotation(scope=scope.key, target_version=target, started_at=self._clock(), rows_done=0)
            self._session.add(rotation)
            self._session.flush()
            self._logbook.record("key.rotation_started", actor, tenant_id=scope.tenant_id,
                                 object_type="key_rotation", object_id=rotation.id,
                                 detail=f"{scope.key} to v{target}")
        return Started(rotation.id, rotation.target_version, resumed, rotation.rows_done,
                       self.rows_left(scope, rotation.target_version))

    def rows_left(self, scope: Scope, target_version: int) -> int:
        """Rows of every registry table in the scope still wrapped under an older version."""
        return sum(int(self._session.execute(
            sa.select(sa.func.count()).select_from(entry.table)
            .where(entry.in_scope(scope.tenant_id), entry.version < target_version)).scalar_one())
            for entry in tables_for(scope.tenant_id))

    def run_batch(self, scope: Scope, rotation_id: uuid.UUID, actor: Actor, batch: int = DEFAULT_BATCH) -> int:
        """Move up to ``batch`` rows to the rotation's version; returns how many rows it looked at
        (0: nothing left). A row that does not open stops the rotation (RowKeyUnreadable)."""
        rotation = self._session.get(KeyRotation, rotation_id)
        if rotation is None or rotation.finished_at is not None:
            return 0
        keks = BatchKeks(self._data_keys, scope.tenant_id, actor)
        seen = 0
        for entry in tables_for(scope.tenant_id):
            if seen >= batch:
                break
            rows = self._session.execute(
                sa.select(entry.id, entry.version, entry.wrapped)
                .where(entry.in_scope(scope.tenant_id), entry.version < rotation.target_version)
                .order_by(entry.id).limit(batch - seen)).all()
            seen += len(rows)
            moved, versions = 0, set()
            for row_id, version, wrapped in rows:
                if self.move_row(entry, scope, keks, row_id, version, bytes(wrapped), rotation.target_version):
                    moved += 1
                    versions.add(version)
            if moved:
                self._data_keys.unwraps.add(entry.object_type, moved)
                self._logbook.record(
                    "key.rewrapped", actor, tenant_id=scope.tenant_id, object_type=entry.object_type,
                    object_id=rotation.id,
                    detail=f"{moved} {entry.name} data key(s) unwrapped and rewrapped, "
                           f"{'/'.join(f'v{v}' for v in sorted(versions))} to v{rotation.target_version}")
                # An expression, not a read-modify-write: two resumed runs may advance it at once.
                self._session.execute(sa.update(KeyRotation).where(KeyRotation.id == rotation.id)
                                      .values(rows_done=KeyRotation.rows_done + moved))
        return seen

    def move_row(self, entry: WrappedKeyRows, scope: Scope, keks: BatchKeks, row_id: uuid.UUID, version: int,
                 wrapped: bytes, target: int) -> bool:
        """Rewrap one row read as (``version``, ``wrapped``) under ``target``; False when the row
        no longer holds what was read (a concurrent writer won, and keeps what it wrote)."""
        try:
            data_key = entry.open(keks(version), scope.tenant_id, row_id, version, wrapped)
        except DecryptionFailed:
            raise RowKeyUnreadable(entry.name, row_id) from None
        rewrapped = entry.seal(keks(target), scope.tenant_id, row_id, target, data_key)
        result = self._session.execute(
            sa.update(entry.table)
            .where(entry.id == row_id, entry.version == version, entry.wrapped == wrapped)
            .values({entry.version.key: target, entry.wrapped.key: rewrapped}))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def finish(self, scope: Scope, rotation_id: uuid.UUID, actor: Actor) -> bool:
        """Mark the rotation finished if no row of the scope is left on an older version."""
        rotation = self._session.get(KeyRotation, rotation_id)
        if rotation is None:
            return False
        if rotation.finished_at is not None:
            return True
        if self.rows_left(scope, rotation.target_version):
            return False
        rotation.finished_at = self._clock()
        self._logbook.record("key.rotation_finished", actor, tenant_id=scope.tenant_id,
                             object_type="key_rotation", object_id=rotation.id,
                             detail=f"{scope.key} at v{rotation.target_version}, {rotation.rows_done} row(s) moved")
        return True

    def _new_kek(self, scope: Scope) -> int:
        if scope.tenant_id is None:
            return self._data_keys.create_installation_key()
        return self._data_keys.keyring.create_tenant_key(scope.tenant_id)


def key_rotations(services: Services) -> KeyRotationService:
    """The rotation service for one unit of work, on that unit's session and keyring."""
    return KeyRotationService(services.session, services.data_keys, services.logbook, services.ctx.clock)
