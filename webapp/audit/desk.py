"""What the auditor's room may reach: the tenants the principal audits, the logbook search and
the chain's standing. No case, person, user or key service."""

from __future__ import annotations

import uuid
from typing import Any

from appliance.actors import Role, StaffPrincipal
from appliance.audit.search import LogbookSearch
from appliance.audit.status import ChainStatus
from appliance.tenants.models import Tenant
from webapp.desk import Desk


class AuditDesk(Desk):
    def tenant(self, principal: StaffPrincipal, slug: str) -> Tenant:
        """A tenant the principal audits (NotFound otherwise, as for one that does not exist)."""
        return self._services.tenants.resolve_for(principal, slug, Role.AUDITOR)

    def audited(self, principal: StaffPrincipal) -> list[Tenant]:
        return self._services.tenants.by_ids(principal.tenants_with(Role.AUDITOR))

    @property
    def search(self) -> LogbookSearch:
        return self._services.logbook_search

    @property
    def status(self) -> ChainStatus:
        return self._services.chain_status

    def record_export(self, principal: StaffPrincipal, tenant_id: uuid.UUID, filters: dict[str, Any]) -> None:
        """Exports are recorded, as the CLI's are (which filters were set, never their values)."""
        named = ",".join(sorted(k for k, v in filters.items() if v is not None and k != "tenant")) or "none"
        self._services.logbook.record("audit.exported", principal.actor, tenant_id=tenant_id,
                                      object_type="logbook", detail=f"filters={named}")

    def commit_now(self) -> None:
        """End the request's transaction before a long stream (SQLite: no lock held while sending)."""
        self._unit.commit_now()
