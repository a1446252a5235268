"""What the administration pages under /admin/ may reach: the tenants the principal administers,
their users (through UserAdministration, which carries the rules), categories, reporting channels, the reader list
proposals, retention and API tokens. No case content, no reporting, no keys."""

from __future__ import annotations

import uuid

from appliance.actors import Role, StaffPrincipal
from appliance.api_tokens.service import ApiTokens
from appliance.readers.overview import Overview, overview
from appliance.readers.service import ReaderLists
from appliance.retention.service import RetentionService
from appliance.tenants.branding import PortalBrandings
from appliance.tenants.channels import ChannelService
from appliance.tenants.models import Tenant
from appliance.tenants.questionnaires import Questionnaires
from appliance.tenants.service import TenantService
from appliance.users.administration import UserAdministration
from appliance.users.service import UserSummary
from webapp.desk import Desk


class AdminDesk(Desk):
    def tenant(self, principal: StaffPrincipal, slug: str) -> Tenant:
        """A tenant the principal administers (NotFound otherwise, as for one that does not exist)."""
        return self._services.tenants.resolve_for(principal, slug, Role.ADMIN)

    def administered(self, principal: StaffPrincipal) -> list[Tenant]:
        return self._services.tenants.by_ids(principal.tenants_with(Role.ADMIN))

    @property
    def tenants(self) -> TenantService:
        return self._services.tenants

    @property
    def channels(self) -> ChannelService:
        return self._services.channels

    @property
    def branding(self) -> PortalBrandings:
        return self._services.branding

    @property
    def questionnaires(self) -> Questionnaires:
        return self._services.questionnaires

    @property
    def accounts(self) -> UserAdministration:
        return self._services.user_administration

    def users_in(self, tenant_id: uuid.UUID) -> list[UserSummary]:
        return self._services.users.users_in(frozenset({tenant_id}))

    def handlers_of(self, tenant_id: uuid.UUID) -> list[UserSummary]:
        return self._services.users.handlers_of(tenant_id)

    @property
    def readers(self) -> ReaderLists:
        return self._services.readers

    @property
    def api_tokens(self) -> ApiTokens:
        return self._services.api_tokens

    @property
    def retention(self) -> RetentionService:
        return self._services.retention

    def reader_overview(self, tenant_id: uuid.UUID) -> Overview:
        return overview(self._services.readers, self._services.users, tenant_id)
