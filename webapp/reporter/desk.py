"""What reporter routes may reach: tenant look-up, the reporting service, the review of a
report recorded by a handler, reporter sessions.

Staff services (cases as handlers see them, users, administration) are not reachable from
here; tests/unit/webapp/test_boundaries.py checks the imports.
"""

from __future__ import annotations

import uuid

from appliance.acknowledgements.entry import CodeEntry
from appliance.acknowledgements.insiders import InsiderLinks
from appliance.cases.consent import IdentityConsents
from appliance.cases.oral_reports import OralReports
from appliance.cases.reporting import ReportingService
from appliance.tenants.branding import PortalBrandings
from appliance.tenants.models import Tenant
from webapp.desk import Desk


class ReporterDesk(Desk):
    def tenant(self, slug: str) -> Tenant:
        return self._services.tenants.by_slug(slug)

    @property
    def branding(self) -> PortalBrandings:
        """Only the reading half is used here: the verified branding and logo."""
        return self._services.branding

    @property
    def reporting(self) -> ReportingService:
        return self._services.reporting

    @property
    def oral_reports(self) -> OralReports:
        """Only the reporter's half is used here: reading, approving and correcting a record."""
        return self._services.oral_reports

    @property
    def identity_consents(self) -> IdentityConsents:
        """Only the reporter's half is used here: reading and answering a consent request."""
        return self._services.identity_consents

    @property
    def acknowledgement_entry(self) -> CodeEntry:
        """The public confirmation page's codes (throttled per client)."""
        return self._services.acknowledgement_entry

    @property
    def insider_links(self) -> InsiderLinks:
        """Only the person's half is used here: a details code and the form it opens."""
        return self._services.insider_links

    def start_session(self, case_id: uuid.UUID, private_key: bytes | None) -> str:
        """A reporter session; it holds the case's private key (sealed under the cookie's token)
        unless the reporter's copy is still pending."""
        token, row = self._services.web_sessions.create("reporter", "full", case_id=case_id)
        if private_key is not None:
            self._services.web_sessions.store_secret(row, token, private_key)
        return token

    def end_session(self, token: str | None) -> None:
        self._services.web_sessions.destroy(token)


def desk() -> ReporterDesk:
    return ReporterDesk.of_request()
