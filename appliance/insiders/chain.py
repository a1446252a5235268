"""Each tenant's insider-list versions as one MAC chain, so the history cannot be rewritten with SQL.

A DBA can UPDATE a version in place (back-date "obtained", drop a "ceased"), DELETE one or INSERT
one. Every version carries ``seq`` (its place, from 1) and a MAC under a preserved secret (which
the DBA does not hold) over its own fields and the previous version's MAC: any such change makes
``verify`` fail at the first version that no longer fits, and reads of the list refuse to answer
(``InsiderListTampered``) instead of showing a history that was rewritten. Removing the newest
versions leaves a shorter chain that still verifies: the logbook (its own hash chain) records each
change with its version number, so ``verify`` also checks that the newest version it sees is the
newest the logbook announced. IT with the master key could recompute the MACs: the residual risk
the README documents for that insider (file integrity, the logbook sent to journald).

The MAC signs the SHA-256 of each ciphertext, never the ciphertext: retention deletes an entry's
ciphertexts five years after the person ceased (MAR Art. 18(5)) and keeps the digests, so the chain
still verifies. A version whose ciphertext is gone is accepted only when the chain itself says the
entry ceased more than five years before the read: a DBA who deletes data early is caught too.

Reads verify every version of the tenant (an edit of a version the read does not show can still
change which one it shows, so verifying only what is shown would not do), and every read verifies
what it reads itself, never a result cached from an earlier read. Verification is written for
speed instead: only the needed columns are loaded, as plain rows rather than ORM objects, and
the canonical form is built from them without re-deriving anything per row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.errors import InsiderListTampered
from appliance.insiders.models import InsiderVersion
from appliance.insiders.retention import retain_until

_GENESIS = b"\x00" * 32
_SEP = "\x1f"
# The columns a read needs: every signed one and the ciphertexts (never the whole ORM object).
COLUMNS = (InsiderVersion.id, InsiderVersion.tenant_id, InsiderVersion.seq, InsiderVersion.section_id,
           InsiderVersion.entry_id, InsiderVersion.valid_from, InsiderVersion.change, InsiderVersion.started_at,
           InsiderVersion.ended_at, InsiderVersion.content_sealed, InsiderVersion.content_digest,
           InsiderVersion.personal_sealed, InsiderVersion.personal_digest, InsiderVersion.recorded_at,
           InsiderVersion.recorded_by, InsiderVersion.mac)


class SignedVersion(Protocol):
    """What the chain reads of a version: an InsiderVersion, or a row of ``COLUMNS``."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    seq: int
    section_id: uuid.UUID
    entry_id: uuid.UUID | None
    valid_from: dt.datetime
    change: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    content_sealed: Any
    content_digest: bytes | None
    personal_sealed: Any
    personal_digest: bytes | None
    recorded_at: dt.datetime
    recorded_by: str
    mac: bytes


def digest(value: bytes | None) -> bytes | None:
    return None if value is None else hashlib.sha256(value).digest()


def erased(version: SignedVersion) -> bool:
    """Whether retention (or someone) deleted this version's ciphertexts."""
    return version.content_sealed is None or (version.personal_sealed is None and version.personal_digest is not None)


class VersionChain:
    def __init__(self, session: Session, key: bytes) -> None:
        self._session = session
        self._key = key

    def append(self, version: InsiderVersion) -> InsiderVersion:
        """Give ``version`` the tenant's next place and its MAC, and add it. Callers hold the
        tenant's insider-list lock (``InsiderLists._lock``), so two writers never take one place."""
        last = self._session.execute(
            sa.select(InsiderVersion.seq, InsiderVersion.mac).where(InsiderVersion.tenant_id == version.tenant_id)
            .order_by(InsiderVersion.seq.desc()).limit(1)).first()
        version.seq = (last.seq if last else 0) + 1
        version.personal_digest = digest(version.personal_sealed)
        version.content_digest = digest(version.content_sealed)
        version.mac = self.mac(version, last.mac if last else _GENESIS)
        self._session.add(version)
        self._session.flush()
        return version

    def mac(self, version: SignedVersion, previous: bytes) -> bytes:
        return hmac.new(self._key, previous + _canonical(version), hashlib.sha256).digest()

    def verify(self, tenant_id: uuid.UUID, expected_newest: int | None = None, now: dt.datetime | None = None) -> int:
        """Walk the tenant's whole chain, as read from the database now; return its length, or raise
        InsiderListTampered. For the auditor and the CLI: nothing is reused."""
        rows = self._session.execute(sa.select(*COLUMNS).where(InsiderVersion.tenant_id == tenant_id)
                                     .order_by(InsiderVersion.seq)).all()
        return self.verify_rows(tenant_id, rows, expected_newest, now)

    def verified_rows(self, tenant_id: uuid.UUID, expected_newest: int | None, now: dt.datetime) -> list[Any]:
        """Every version of the tenant (rows of ``COLUMNS``, in chain order), read now and verified."""
        rows: list[Any] = list(self._session.execute(sa.select(*COLUMNS).where(InsiderVersion.tenant_id == tenant_id)
                                                     .order_by(InsiderVersion.seq)).all())
        self.verify_rows(tenant_id, rows, expected_newest, now)
        return rows

    def verify_rows(self, tenant_id: uuid.UUID, rows: Iterable[SignedVersion], expected_newest: int | None,
                    now: dt.datetime | None = None) -> int:
        previous, count = _GENESIS, 0
        key = self._key
        tenant = str(tenant_id)
        newest: dict[uuid.UUID, SignedVersion] = {}  # each entry's newest version
        deleted: dict[uuid.UUID, int] = {}  # entries with a deleted ciphertext: the first such version
        for row in rows:
            count += 1
            if row.seq != count:
                raise InsiderListTampered(tenant_id, count, "a version is missing")
            if row.personal_sealed is not None and digest(row.personal_sealed) != row.personal_digest:
                raise InsiderListTampered(tenant_id, row.seq, "personal data was replaced")
            mac = hmac.new(key, previous + _canonical(row, tenant), hashlib.sha256).digest()
            if not hmac.compare_digest(mac, row.mac):
                raise InsiderListTampered(tenant_id, row.seq, "a version was changed")
            if row.entry_id is not None:
                newest[row.entry_id] = row
                if erased(row):
                    deleted.setdefault(row.entry_id, row.seq)
            elif row.content_sealed is None:
                raise InsiderListTampered(tenant_id, row.seq, "a section's content was deleted")
            previous = row.mac
        if expected_newest is not None and count < expected_newest:
            raise InsiderListTampered(tenant_id, count + 1, "the newest versions were removed")
        _check_deletions(tenant_id, newest, deleted, now)
        return count


def _check_deletions(tenant_id: uuid.UUID, newest: dict[uuid.UUID, SignedVersion], deleted: dict[uuid.UUID, int],
                     now: dt.datetime | None) -> None:
    """Data of an entry may be gone only five years after the entry ceased, as its newest version says."""
    for entry_id, seq in deleted.items():
        ceased = newest[entry_id].ended_at
        if ceased is None or (now is not None and retain_until(ceased) > now):
            raise InsiderListTampered(tenant_id, seq, "data was deleted before its retention period ended")


def _canonical(v: SignedVersion, tenant: str | None = None) -> bytes:
    content = digest(v.content_sealed) if v.content_sealed is not None else v.content_digest
    parts = [tenant or str(v.tenant_id), str(v.seq), str(v.section_id), str(v.entry_id or ""), v.valid_from.isoformat(),
             v.change, v.started_at.isoformat(), v.ended_at.isoformat() if v.ended_at else "",
             (content or b"").hex(), (v.personal_digest or b"").hex(),
             v.recorded_at.isoformat(), v.recorded_by, str(v.id)]
    return _SEP.join(parts).encode()
