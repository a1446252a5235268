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
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.errors import InsiderListTampered
from appliance.insiders.models import InsiderVersion

_GENESIS = b"\x00" * 32


def digest(value: bytes | None) -> bytes | None:
    return None if value is None else hashlib.sha256(value).digest()


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
        version.mac = self.mac(version, last.mac if last else _GENESIS)
        self._session.add(version)
        self._session.flush()
        return version

    def mac(self, version: InsiderVersion, previous: bytes) -> bytes:
        return hmac.new(self._key, previous + _canonical(version), hashlib.sha256).digest()

    def verify(self, tenant_id: uuid.UUID, expected_newest: int | None = None) -> int:
        """Walk the tenant's chain; return its length, or raise InsiderListTampered."""
        rows = self._session.execute(sa.select(InsiderVersion).where(InsiderVersion.tenant_id == tenant_id)
                                     .order_by(InsiderVersion.seq)).scalars()
        return self.verify_rows(tenant_id, rows, expected_newest)

    def verify_rows(self, tenant_id: uuid.UUID, rows: Iterable[InsiderVersion], expected_newest: int | None) -> int:
        previous, count = _GENESIS, 0
        for row in rows:
            count += 1
            if row.seq != count:
                raise InsiderListTampered(tenant_id, count, "a version is missing")
            if row.personal_sealed is not None and digest(row.personal_sealed) != row.personal_digest:
                raise InsiderListTampered(tenant_id, row.seq, "personal data was replaced")
            if not hmac.compare_digest(self.mac(row, previous), row.mac):
                raise InsiderListTampered(tenant_id, row.seq, "a version was changed")
            previous = row.mac
        if expected_newest is not None and count < expected_newest:
            raise InsiderListTampered(tenant_id, count + 1, "the newest versions were removed")
        return count


def _canonical(v: InsiderVersion) -> bytes:
    parts = [str(v.tenant_id), str(v.seq), str(v.section_id), str(v.entry_id or ""), v.valid_from.isoformat(),
             v.change, v.started_at.isoformat(), v.ended_at.isoformat() if v.ended_at else "",
             hashlib.sha256(v.content_sealed).hexdigest(), (v.personal_digest or b"").hex(),
             v.recorded_at.isoformat(), v.recorded_by, str(v.id)]
    return "\x1f".join(parts).encode()
