"""What the insider managers' pages may reach: the tenants they manage, delayed-disclosure
records, the PDMR register with its acknowledgement links, the financial calendar and the notice
texts, the insider lists with their links and exports. No case, no user administration, no keys."""

from __future__ import annotations

import datetime as dt
import uuid

from appliance.acknowledgements.insiders import InsiderLinks
from appliance.acknowledgements.service import AcknowledgementLinks, LinkView
from appliance.actors import Role, StaffPrincipal
from appliance.disclosures.service import DelayedDisclosures
from appliance.insiders.exports import InsiderExports
from appliance.insiders.history import InsiderHistory
from appliance.insiders.proposals import InsiderProposals
from appliance.insiders.service import InsiderLists
from appliance.pdmr.calendar import FinancialCalendar
from appliance.pdmr.register import PdmrRegister
from appliance.statistics.access import AccessCounts
from appliance.statistics.period import Period
from appliance.tenants.models import Tenant
from webapp.desk import Desk
from webapp.requestctx import app_context


class InsidersDesk(Desk):
    def tenant(self, principal: StaffPrincipal, slug: str) -> Tenant:
        """A tenant the principal manages insiders of (NotFound otherwise, as for one that does not exist)."""
        return self._services.tenants.resolve_for(principal, slug, Role.INSIDER_MANAGER)

    def managed(self, principal: StaffPrincipal) -> list[Tenant]:
        return self._services.tenants.by_ids(principal.tenants_with(Role.INSIDER_MANAGER))

    @property
    def disclosures(self) -> DelayedDisclosures:
        return self._services.disclosures

    @property
    def pdmrs(self) -> PdmrRegister:
        return self._services.pdmrs

    @property
    def calendar(self) -> FinancialCalendar:
        return self._services.financial_calendar

    @property
    def proposals(self) -> InsiderProposals:
        return self._services.insider_proposals

    @property
    def acknowledgements(self) -> AcknowledgementLinks:
        return self._services.acknowledgements

    @property
    def insider_lists(self) -> InsiderLists:
        return self._services.insider_lists

    @property
    def insider_history(self) -> InsiderHistory:
        return self._services.insider_history

    @property
    def insider_exports(self) -> InsiderExports:
        return self._services.insider_exports

    @property
    def insider_links(self) -> InsiderLinks:
        return self._services.insider_links

    def links_of_entries(self, tenant_id: uuid.UUID, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, LinkView]:
        return self._services.acknowledgements.of_subjects(tenant_id, "pdmr_entry", entry_ids)

    def now(self) -> dt.datetime:
        return app_context().clock()

    def access_counts(self, principal: StaffPrincipal, tenant: Tenant, period: Period) -> AccessCounts:
        """The tenant's access events by source and project (labels opened for display only)."""
        return self._services.access_statistics.counts([tenant.id], period, principal.actor)

    def record_access_export(self, principal: StaffPrincipal, tenant: Tenant, kind: str) -> None:
        """Exports are recorded (which format), never a figure or a label."""
        self._services.logbook.record("stats.exported", principal.actor, tenant_id=tenant.id,
                                      object_type="access_events", detail=f"format={kind}")


def desk() -> InsidersDesk:
    return InsidersDesk.of_request()
