"""What the analyst's room may reach: the tenants the principal analyses, the figures over their
case metadata, and their access events counted by source and project. No case content, person,
user or key service."""

from __future__ import annotations

import datetime as dt

from appliance.actors import Role, StaffPrincipal
from appliance.statistics.access import AccessCounts, with_events_withheld
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

    def figures(self, principal: StaffPrincipal, tenants: list[Tenant], period: Period) -> tuple[Figures, AccessCounts]:
        """The figures over case metadata, and the access events by source and project (their
        labels opened for display: the unwraps are in the logbook, the labels never are)."""
        figures = self._services.case_statistics.figures([t.id for t in tenants], period)
        access = self._services.access_statistics.counts([t.id for t in tenants], period, principal.actor)
        return (with_events_withheld(figures) if access.month_totals_withheld else figures), access

    def record_export(self, principal: StaffPrincipal, tenants: list[Tenant], kind: str) -> None:
        """Exports are recorded (which format, for which tenant), never a figure."""
        for tenant in tenants:
            self._services.logbook.record("stats.exported", principal.actor, tenant_id=tenant.id,
                                          object_type="statistics", detail=f"format={kind}")
