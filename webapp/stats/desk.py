"""What the analyst's room may reach: the tenants the principal analyses and the figures over
their case metadata. No case content, person, user or key service."""

from __future__ import annotations

import datetime as dt

from appliance.actors import Role, StaffPrincipal
from appliance.statistics.figures import Figures
from appliance.statistics.period import Period
from appliance.tenants.models import Tenant
from webapp.desk import Desk


class StatsDesk(Desk):
    def analysed(self, principal: StaffPrincipal) -> list[Tenant]:
        return self._services.tenants.by_ids(principal.tenants_with(Role.ANALYST))

    def tenant(self, principal: StaffPrincipal, slug: str) -> Tenant:
        """A tenant the principal analyses (NotFound otherwise, as for one that does not exist)."""
        return self._services.tenants.resolve_for(principal, slug, Role.ANALYST)

    def now(self) -> dt.datetime:
        return self._services.ctx.clock()

    def figures(self, tenants: list[Tenant], period: Period) -> Figures:
        return self._services.case_statistics.figures([t.id for t in tenants], period)

    def record_export(self, principal: StaffPrincipal, tenants: list[Tenant], kind: str) -> None:
        """Exports are recorded (which format, for which tenant), never a figure."""
        for tenant in tenants:
            self._services.logbook.record("stats.exported", principal.actor, tenant_id=tenant.id,
                                          object_type="statistics", detail=f"format={kind}")
