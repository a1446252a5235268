"""What the insider-list API may reach (scopes ``insiders:read`` and ``insiders:write``): the token's
own tenant's sections, insiders, exports and transmissions, through the domain services. Every
call is written to the logbook by token id and operation, with object ids only."""

from __future__ import annotations

import datetime as dt
import uuid

from appliance.api_tokens.service import ApiPrincipal
from appliance.errors import InvalidInput, NotFound
from appliance.insiders import formats
from appliance.insiders.records import InsiderDetails, ListAsAt, SectionAsAt
from appliance.insiders.templates import EVENT
from webapp.api.desk import ApiDesk

SECTION = "insider_section"
ENTRY = "insider_entry"


class InsiderApiDesk(ApiDesk):
    def now(self) -> dt.datetime:
        return self._services.ctx.clock()

    def create_section(self, principal: ApiPrincipal, kind: str, code: str | None, description: str | None,
                       identified_at: dt.datetime | None) -> uuid.UUID:
        lists, tenant_id, actor = self._services.insider_lists, principal.tenant_id, principal.actor
        if kind == EVENT:
            if identified_at is None:
                raise InvalidInput("identified_at", "required for an event section")
            section_id = lists.create_section(tenant_id, code or "", description or "", identified_at, actor)
        else:
            if code or description:
                raise InvalidInput("code", "the permanent section has no code or description")
            section_id = lists.open_permanent_section(tenant_id, actor, identified_at)
        self.record(principal, "insider_section_created", SECTION, section_id)
        return section_id

    def sections(self, principal: ApiPrincipal) -> ListAsAt:
        listed = self._services.insider_history.as_at(principal.tenant_id, self.now(), principal.actor)
        self.record(principal, "insider_sections_listed")
        return listed

    def section(self, principal: ApiPrincipal, section_id: uuid.UUID, as_at: dt.datetime | None) -> SectionAsAt:
        moment = formats.past_minute("as_at", as_at or self.now(), self.now())
        found = self._services.insider_history.as_at(principal.tenant_id, moment, principal.actor, section_id)
        if not found.sections:
            raise NotFound("insider section", section_id)  # it did not exist yet at that moment
        self.record(principal, "insider_section_read", SECTION, section_id)
        return found.sections[0]

    def add_insider(self, principal: ApiPrincipal, section_id: uuid.UUID, details: InsiderDetails,
                    obtained: dt.datetime, ceased: dt.datetime | None) -> uuid.UUID:
        entry_id = self._services.insider_lists.add_insider(principal.tenant_id, section_id, details, obtained,
                                                            principal.actor, ceased)
        self.record(principal, "insider_added", ENTRY, entry_id)
        return entry_id

    def change_insider(self, principal: ApiPrincipal, section_id: uuid.UUID, entry_id: uuid.UUID,
                       changes: InsiderDetails | None, changed_at: dt.datetime | None,
                       ceased: dt.datetime | None) -> int:
        """A new version (field changes from ``changed_at``), then the insider ceasing if ``ceased``."""
        if self._services.insider_history.section_of(principal.tenant_id, entry_id) != section_id:
            raise NotFound("insider", entry_id)
        lists, tenant_id, actor = self._services.insider_lists, principal.tenant_id, principal.actor
        version = 0
        if changes is not None:
            if changed_at is None:
                raise InvalidInput("changed_at", "required with field changes")
            version = lists.change_insider(tenant_id, entry_id, changes, changed_at, actor)
        if ceased is not None:
            version = lists.cease_insider(tenant_id, entry_id, ceased, actor)
        if not version:
            raise InvalidInput("changed_at", "give field changes with changed_at, or ceased")
        self.record(principal, "insider_changed", ENTRY, entry_id)
        return version

    def export(self, principal: ApiPrincipal, section_id: uuid.UUID, export_format: str,
               as_at: dt.datetime | None) -> bytes:
        data = self._services.insider_exports.export(principal.tenant_id, section_id, export_format, as_at,
                                                     principal.actor)
        self.record(principal, "insider_section_exported", SECTION, section_id)
        return data

    def record_transmission(self, principal: ApiPrincipal, section_id: uuid.UUID, export_format: str,
                            as_at: dt.datetime, transmitted_on: dt.date) -> uuid.UUID:
        transmission_id = self._services.insider_exports.record_transmission(
            principal.tenant_id, section_id, export_format, as_at, transmitted_on, principal.actor)
        self.record(principal, "insider_transmission_recorded", SECTION, section_id)
        return transmission_id
