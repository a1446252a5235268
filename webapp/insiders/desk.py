"""What the insider managers' pages may reach: the tenants they manage, delayed-disclosure
records, the PDMR register with its acknowledgement links, the financial calendar and the notice
texts. No case, no user administration, no keys."""

from __future__ import annotations

import datetime as dt
import uuid

from appliance.acknowledgements.service import AcknowledgementLinks, LinkView
from appliance.actors import Role, StaffPrincipal
from appliance.disclosures.service import DelayedDisclosures
from appliance.pdmr.calendar import FinancialCalendar
from appliance.pdmr.register import PdmrRegister
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
    def acknowledgements(self) -> AcknowledgementLinks:
        return self._services.acknowledgements

    def links_of_entries(self, tenant_id: uuid.UUID, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, LinkView]:
        return self._services.acknowledgements.of_subjects(tenant_id, "pdmr_entry", entry_ids)

    def now(self) -> dt.datetime:
        return app_context().clock()


def desk() -> InsidersDesk:
    return InsidersDesk.of_request()
