"""A handler's saved queue searches: a name and the search's query string, per user and tenant.

Both are sealed to the handler's own X25519 key (the context binds the box to its row and
user), so only that handler opens them: a DBA, another handler, or IT with the master key read
nothing, and a row moved to another user no longer opens. A search saved before a password
reset (a new key pair) no longer opens either and is left out of the list; its owner may delete
it. The logbook records saving and deleting by id, never the name or the search.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Role, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.models import SavedQueueFilter
from appliance.cases.queue_filter import QueueFilter
from appliance.clock import Clock
from appliance.crypto.sealing import open_sealed, public_key_of, seal_to
from appliance.errors import DecryptionFailed, InvalidInput, NotFound

MAX_NAME = 80
MAX_SAVED = 30  # per handler and tenant


@dataclass(frozen=True)
class SavedFilter:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    filters: QueueFilter


class SavedQueueFilters:
    """Save, list and delete a handler's own queue searches."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    def list(self, principal: StaffPrincipal) -> list[SavedFilter]:
        """The principal's own saved searches in the tenants where they handle cases, by name."""
        tenants = principal.tenants_with(Role.HANDLER)
        if not tenants or principal.private_key is None:
            return []
        rows = self._session.execute(sa.select(SavedQueueFilter).where(
            SavedQueueFilter.user_id == principal.user_id, SavedQueueFilter.tenant_id.in_(sorted(tenants)))
            .order_by(SavedQueueFilter.created_at, SavedQueueFilter.id)).scalars()
        found = []
        for row in rows:
            try:
                body = json.loads(open_sealed(principal.private_key, row.sealed, _context(row)))
                found.append(SavedFilter(row.id, row.tenant_id, str(body["name"]), QueueFilter.from_args(body["args"])))
            except (DecryptionFailed, InvalidInput, ValueError, KeyError, TypeError):
                continue  # sealed to a key pair of before a password reset, or not ours
        return sorted(found, key=lambda saved: saved.name.casefold())

    def save(self, principal: StaffPrincipal, name: str, filters: QueueFilter) -> SavedFilter:
        """InvalidInput("name") for an empty, overlong or unprintable name; InvalidInput("tenant")
        when a handler of several organisations saves a search that names none."""
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise InvalidInput("name", f"1 to {MAX_NAME} printable characters")
        tenants = principal.tenants_with(Role.HANDLER)
        if filters.tenant_id is not None and filters.tenant_id in tenants:
            tenant_id = filters.tenant_id
        elif filters.tenant_id is None and len(tenants) == 1:
            (tenant_id,) = tenants
        else:
            raise InvalidInput("tenant", "choose one of your organisations")
        if principal.private_key is None:
            raise InvalidInput("name", "your account has no key pair to seal it to")
        count = self._session.execute(sa.select(sa.func.count()).select_from(SavedQueueFilter).where(
            SavedQueueFilter.user_id == principal.user_id, SavedQueueFilter.tenant_id == tenant_id)).scalar_one()
        if count >= MAX_SAVED:
            raise InvalidInput("name", f"at most {MAX_SAVED} saved searches; delete one first")
        row = SavedQueueFilter(id=uuid.uuid4(), tenant_id=tenant_id, user_id=principal.user_id,
                               created_at=self._clock())
        body = json.dumps({"name": name, "args": filters.to_args()}, separators=(",", ":")).encode()
        row.sealed = seal_to(public_key_of(principal.private_key), body, _context(row))
        self._session.add(row)
        self._logbook.record("queue.filter_saved", principal.actor, tenant_id=tenant_id,
                             object_type="queue_filter", object_id=row.id)
        return SavedFilter(row.id, tenant_id, name, filters)

    def delete(self, principal: StaffPrincipal, filter_id: uuid.UUID) -> None:
        """NotFound for anything but the principal's own saved search."""
        row = self._session.execute(sa.select(SavedQueueFilter).where(
            SavedQueueFilter.id == filter_id, SavedQueueFilter.user_id == principal.user_id,
            SavedQueueFilter.tenant_id.in_(sorted(principal.tenants_with(Role.HANDLER))))).scalar_one_or_none()
        if row is None:
            raise NotFound("queue_filter", filter_id)
        self._session.delete(row)
        self._logbook.record("queue.filter_deleted", principal.actor, tenant_id=row.tenant_id,
                             object_type="queue_filter", object_id=row.id)


def _context(row: SavedQueueFilter) -> bytes:
    return b"appliance queue filter v1\x1f" + row.id.bytes + row.user_id.bytes + row.tenant_id.bytes
