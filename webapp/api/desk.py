"""What API routes may reach: token checks, the caller's own tenant and categories, and filing a
report (the reporter's pipeline). No case can be read back through here: the desk has no
case service, only ``ReportingService.submit``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from appliance.api_tokens.service import ApiPrincipal
from appliance.cases.api_intake import FilesAdded
from appliance.cases.attachments import Upload
from appliance.cases.reporting import NewReport, Receipt
from appliance.ephemeral.store import Lockout, Quota, Subject
from appliance.errors import NotFound
from appliance.events.service import EventPage, NewEvent, Rejected, UploadResult
from appliance.statistics.access import with_events_withheld
from appliance.statistics.figures import Figures
from appliance.statistics.period import Period
from appliance.tenants.models import Category, Tenant
from webapp.desk import Desk

WINDOW_SECONDS = 60


class ApiDesk(Desk):
    def authenticate(self, token: str) -> ApiPrincipal:
        return self._services.api_tokens.authenticate(token)

    def refuse_locked_client(self, client: str) -> None:
        """LockedOut while this client has failed too often to present a valid token."""
        self._services.ctx.ephemeral.check(self._client_subject(client))

    def count_failure(self, client: str) -> None:
        self._services.ctx.ephemeral.fail(self._client_subject(client))

    def take_request_slot(self, principal: ApiPrincipal) -> None:
        """One of the token's requests this minute, or RateLimited."""
        limit = self._services.ctx.settings.api_rate_limit_per_minute
        self._services.ctx.ephemeral.take(Quota("api/token", (str(principal.token_id),), limit, WINDOW_SECONDS))

    def tenant(self, principal: ApiPrincipal) -> Tenant:
        """The token's tenant (looked up once per request)."""
        known: Tenant | None = getattr(self, "_tenant", None)
        if known is not None and known.id == principal.tenant_id:
            return known
        found = self._services.tenants.by_ids(frozenset({principal.tenant_id}))
        if not found:
            raise NotFound("tenant", principal.tenant_id)
        self._tenant: Tenant = found[0]
        return found[0]

    def categories(self, principal: ApiPrincipal) -> list[Category]:
        return self._services.tenants.categories(principal.tenant_id)

    def file_report(self, principal: ApiPrincipal, report: NewReport, uploads: list[Upload]) -> Receipt:
        """The portal's pipeline: sealed to the tenant's readers, the reporter (case key) and escrow,
        files encrypted as the portal's are; the token is remembered for adding files shortly after.
        Logged once, as the case's own ``case.created`` by the token's actor (its id, never the
        token): a second ``api.*`` event would say the same thing and cost a second append."""
        return self._services.api_intake.file(self.tenant(principal), report, uploads, principal.token_id,
                                              principal.actor)

    def add_files(self, principal: ApiPrincipal, reference: str, uploads: list[Upload]) -> FilesAdded:
        """Files for a report this token filed a few minutes ago (NotFound for any other report)."""
        added = self._services.api_intake.add_files(principal.tenant_id, reference, uploads, principal.token_id,
                                                    principal.actor)
        self.record(principal, "attachments_added", "case", added.case_id)
        return added

    def upload_events(self, principal: ApiPrincipal, events: Sequence[NewEvent | Rejected]) -> UploadResult:
        """Store a batch of access events for the token's tenant (idempotent by source and id)."""
        result = self._services.access_events.upload(principal.tenant_id, events, principal.actor)
        self.record(principal, "events_uploaded", "event_batch", result.batch_id)
        return result

    def events_for_project(self, principal: ApiPrincipal, project: str, since: dt.datetime | None, limit: int,
                           cursor: str | None) -> EventPage:
        """A page of the token's tenant's events for one project code."""
        page = self._services.access_events.events_for_project(principal.tenant_id, project, since, principal.actor,
                                                               limit, cursor)
        self.record(principal, "events_listed")
        return page

    def statistics(self, principal: ApiPrincipal, first: str | None, last: str | None) -> Figures:
        """The token's tenant's figures (InvalidInput for a bad month): never another tenant's."""
        period = Period.parse(first, last, self._services.ctx.clock())
        figures = self._services.case_statistics.figures([principal.tenant_id], period)
        # The same events by month as the rooms: withheld where the tables by source and project
        # would otherwise let a month's total give their small cells away (no label is opened).
        if self._services.access_statistics.counts([principal.tenant_id], period, None).month_totals_withheld:
            figures = with_events_withheld(figures)
        self.record(principal, "stats_read")
        return figures

    def record(self, principal: ApiPrincipal, operation: str, object_type: str | None = None,
               object_id: uuid.UUID | None = None) -> None:
        self._services.api_tokens.record_request(principal, operation, object_type, object_id)

    def _client_subject(self, client: str) -> Subject:
        s = self._services.ctx.settings
        return Subject("api-auth/client", (client,),
                       Lockout(s.lockout_client_threshold, s.lockout_base_seconds, s.lockout_max_seconds))
