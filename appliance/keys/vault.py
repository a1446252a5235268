"""The person key vault: the half of each person's data key that backups never hold.

A person's data key is derived from two random shares: one wrapped under the tenant's
key-encryption key in the main database (``persons.wrapped_key``, rotated with it), and one
kept here, in a separate database that the main database's backups do not contain (the
embedded store: ``vault.db`` beside ``appliance.db``; SQL Server: its own database). Erasure
deletes the vault share, so the person's fields in every earlier backup of the main database
can no longer be decrypted: crypto-shredding that does not depend on rewriting backups.

The vault itself is copied to the backup sites as one "latest" export that replaces the
previous one (``appliance.operations.vault_copy``), so disaster recovery keeps every person who
was not erased, and no copy of an erased share outlives the next copy.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from appliance.db import GUID, NAMING, Blob, UTCDateTime
from appliance.errors import DecryptionFailed

SHARE_BYTES = 32


class VaultBase(DeclarativeBase):
    """Tables of the vault database (never part of the main schema or its backups)."""

    metadata = sa.MetaData(naming_convention=NAMING)


class PersonShare(VaultBase):
    __tablename__ = "vault_person_shares"

    person_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    share_sealed: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Vault:
    """Puts, reads and deletes person shares. Each write commits at once, on its own
    connection: a share must exist before the person that needs it is committed, and an
    erased share must be gone even if the rest of the erasure failed afterwards."""

    def __init__(self, engine: Engine, wrap_key: bytes, separate: bool) -> None:
        self._engine = engine
        self._aead = AESGCM(wrap_key)
        self.separate = separate  # False: shares live in the main database (and in its backups)
        self._ready = False

    def ensure_schema(self) -> None:
        if not self._ready:
            VaultBase.metadata.create_all(self._engine, checkfirst=True)
            self._ready = True

    def new_share(self, person_id: uuid.UUID, now: dt.datetime) -> bytes:
        """Create and store a person's share (committed before the caller's transaction).
        ``now`` is what the caller wants on record: persons named in a case pass the day only,
        so the time a share was made does not point at the case entry written with it."""
        self.ensure_schema()
        share = secrets.token_bytes(SHARE_BYTES)
        with self._engine.begin() as connection:
            connection.execute(sa.insert(PersonShare).values(
                person_id=person_id, share_sealed=self._seal(person_id, share), created_at=now))
        return share

    def share(self, person_id: uuid.UUID) -> bytes:
        """The person's share; DecryptionFailed when it was erased (or the vault was lost)."""
        self.ensure_schema()
        with self._engine.connect() as connection:
            sealed = connection.execute(sa.select(PersonShare.share_sealed).where(
                PersonShare.person_id == person_id)).scalar_one_or_none()
        if sealed is None:
            raise DecryptionFailed("person key (erased, or the vault is missing)")
        return self._open(person_id, bytes(sealed))

    def shares(self, person_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        """The shares of those persons that still have one (an erased person is missing)."""
        ids = list(person_ids)
        if not ids:
            return {}
        self.ensure_schema()
        found: dict[uuid.UUID, bytes] = {}
        with self._engine.connect() as connection:
            for start in range(0, len(ids), 500):
                rows = connection.execute(sa.select(PersonShare.person_id, PersonShare.share_sealed).where(
                    PersonShare.person_id.in_(ids[start:start + 500]))).all()
                found.update({row.person_id: self._open(row.person_id, bytes(row.share_sealed)) for row in rows})
        return found

    def delete(self, person_ids: Iterable[uuid.UUID]) -> int:
        """Destroy shares for good (committed at once)."""
        ids = list(person_ids)
        if not ids:
            return 0
        self.ensure_schema()
        with self._engine.begin() as connection:
            deleted = 0
            for start in range(0, len(ids), 500):
                result = connection.execute(sa.delete(PersonShare).where(PersonShare.person_id.in_(ids[start:start + 500])))
                deleted += int(result.rowcount)
        return deleted

    def person_ids(self, created_before: dt.datetime | None = None) -> set[uuid.UUID]:
        self.ensure_schema()
        query = sa.select(PersonShare.person_id)
        if created_before is not None:
            query = query.where(PersonShare.created_at < created_before)
        with self._engine.connect() as connection:
            return set(connection.execute(query).scalars())

    def export_rows(self) -> list[dict[str, Any]]:
        """Every share as stored (still sealed under the vault wrap key), for the vault copy."""
        self.ensure_schema()
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(PersonShare).order_by(PersonShare.person_id)).all()
        return [{"person_id": str(r.person_id), "share_sealed": bytes(r.share_sealed).hex(),
                 "created_at": r.created_at.isoformat()} for r in rows]

    def import_rows(self, rows: list[dict[str, Any]]) -> int:
        """Put back shares from a vault copy (disaster recovery); existing shares are kept."""
        self.ensure_schema()
        present = self.person_ids()
        added = 0
        with self._engine.begin() as connection:
            for row in rows:
                person_id = uuid.UUID(row["person_id"])
                if person_id in present:
                    continue
                sealed = bytes.fromhex(row["share_sealed"])
                self._open(person_id, sealed)  # refuse a copy made under another key
                connection.execute(sa.insert(PersonShare).values(
                    person_id=person_id, share_sealed=sealed,
                    created_at=dt.datetime.fromisoformat(row["created_at"])))
                added += 1
        return added

    def dispose(self) -> None:
        self._engine.dispose()

    def _seal(self, person_id: uuid.UUID, share: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, share, b"vault-share\x1f" + person_id.bytes)

    def _open(self, person_id: uuid.UUID, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], b"vault-share\x1f" + person_id.bytes)
        except InvalidTag:
            raise DecryptionFailed("person key share") from None
