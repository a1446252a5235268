"""What the staff pages under /staff/ may reach.

HandlerDesk: the work queue and saved searches, case pages, sharing, persons named in a case, reports received
orally and the Readers page. AccountDesk: signing in (password, TOTP, enrolment, the first own password), signing
out and the account page, and the policy guard's session look-up. Neither reaches the
reporting service, retention, keys or user administration.
"""

from __future__ import annotations

import uuid

from appliance.actors import Actor, Role, StaffPrincipal
from appliance.cases.case_subjects import CaseSubjects
from appliance.cases.oral_reports import OralReports
from appliance.cases.saved_filters import SavedQueueFilters
from appliance.cases.service import CaseService
from appliance.errors import NotFound
from appliance.readers.overview import Overview, overview
from appliance.readers.service import ReaderLists
from appliance.tenants.models import Category, Tenant
from appliance.tenants.service import TenantService
from appliance.users.service import UserService
from appliance.users.sessions import SessionStore
from webapp.desk import Desk


class HandlerDesk(Desk):
    @property
    def cases(self) -> CaseService:
        return self._services.cases

    @property
    def saved_filters(self) -> SavedQueueFilters:
        return self._services.saved_queue_filters

    @property
    def case_subjects(self) -> CaseSubjects:
        return self._services.case_subjects

    @property
    def oral_reports(self) -> OralReports:
        return self._services.oral_reports

    @property
    def readers(self) -> ReaderLists:
        return self._services.readers

    @property
    def users(self) -> UserService:
        return self._services.users

    @property
    def tenants(self) -> TenantService:
        return self._services.tenants

    def tenant(self, principal: StaffPrincipal, slug: str) -> Tenant:
        """A tenant the principal handles cases of (NotFound otherwise)."""
        return self._services.tenants.resolve_for(principal, slug, Role.HANDLER)

    def tenant_by_id(self, tenant_id: uuid.UUID) -> Tenant:
        return self._services.tenants.by_ids(frozenset({tenant_id}))[0]

    def tenant_of_category(self, principal: StaffPrincipal, category_id: uuid.UUID) -> uuid.UUID:
        """The tenant, among those the principal handles cases of, that a category belongs to."""
        for tenant in self._services.tenants.by_ids(principal.tenants_with(Role.HANDLER)):
            if any(c.id == category_id for c in self._services.tenants.categories(tenant.id)):
                return tenant.id
        raise NotFound("category", category_id)

    def all_categories(self, tenant_id: uuid.UUID) -> list[Category]:
        return self._services.tenants.categories(tenant_id, include_inactive=True)

    def reader_overview(self, tenant_id: uuid.UUID) -> Overview:
        return overview(self._services.readers, self._services.users, tenant_id)


class AccountDesk(Desk):
    @property
    def users(self) -> UserService:
        return self._services.users

    @property
    def web_sessions(self) -> SessionStore:
        return self._services.web_sessions

    def notice_new_keys(self, user_id: uuid.UUID) -> None:
        """A reader confirms the user's new key where the old one was on a reader list."""
        self._services.readers.notice_new_keys(user_id)

    def record_logout(self, user_id: uuid.UUID) -> None:
        self._services.logbook.record("logout", Actor("user", user_id), object_type="user", object_id=user_id)
