"""Creating tenants and managing their report categories."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor, Role, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.keys.keyring import TenantKeyring
from appliance.tenants.models import Category, ReportingChannel, Tenant


def N_(text: str) -> str:
    """Marks text for message extraction (pybabel's default N_ keyword); the web layer translates it on display."""
    return text


SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_CATEGORIES = (
    N_("Fraud, bribery or corruption"),
    N_("Financial irregularities"),
    N_("Health, safety or environment"),
    N_("Discrimination or harassment"),
    N_("Data protection or information security"),
    N_("Other breach of law or policy"),
)
MAX_LABEL = 200


class TenantService:
    def __init__(self, session: Session, logbook: Logbook, keyring: TenantKeyring, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._keyring = keyring
        self._clock = clock

    def create_tenant(self, name: str, slug: str, actor: Actor) -> Tenant:
        """Create a legal entity with its first key and the default categories."""
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name", "must be 1 to 200 characters")
        if not SLUG.match(slug):
            raise InvalidInput("slug", "use 1-63 lowercase letters, digits and inner hyphens")
        if self._session.execute(sa.select(Tenant.id).where(Tenant.slug == slug)).first():
            raise Conflict(f"a tenant with slug {slug!r} already exists")
        tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name, created_at=self._clock())
        self._session.add(tenant)
        self._session.flush()
        self._keyring.create_tenant_key(tenant.id)
        self._session.add(ReportingChannel(id=uuid.uuid4(), tenant_id=tenant.id, name=name, is_default=True,
                                           active=True, position=0, created_at=self._clock()))
        for position, label in enumerate(DEFAULT_CATEGORIES):
            self._session.add(Category(tenant_id=tenant.id, label=label, position=position, active=True))
        self._logbook.record("tenant.created", actor, tenant_id=tenant.id, object_type="tenant",
                             object_id=tenant.id)
        self._session.flush()
        return tenant

    def list_tenants(self) -> list[Tenant]:
        return list(self._session.execute(sa.select(Tenant).order_by(Tenant.slug)).scalars())

    def by_slug(self, slug: str) -> Tenant:
        tenant = self._session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        if tenant is None:
            raise NotFound("tenant", slug)
        return tenant

    def resolve_for(self, principal: StaffPrincipal, slug: str, role: Role) -> Tenant:
        """The tenant a staff page names, only if the principal holds ``role`` in it. Otherwise
        NotFound, as for a slug that names nothing: nobody learns which other organisations exist."""
        tenant = self.by_slug(slug)
        if not principal.has(tenant.id, role):
            raise NotFound("tenant", slug)
        return tenant

    def by_ids(self, tenant_ids: frozenset[uuid.UUID]) -> list[Tenant]:
        if not tenant_ids:
            return []
        return list(self._session.execute(
            sa.select(Tenant).where(Tenant.id.in_(tenant_ids)).order_by(Tenant.name)
        ).scalars())

    def categories(self, tenant_id: uuid.UUID, include_inactive: bool = False) -> list[Category]:
        query = sa.select(Category).where(Category.tenant_id == tenant_id)
        if not include_inactive:
            query = query.where(Category.active.is_(True))
        return list(self._session.execute(query.order_by(Category.position, Category.label)).scalars())

    def category(self, tenant_id: uuid.UUID, category_id: uuid.UUID) -> Category:
        category = self._session.execute(
            sa.select(Category).where(Category.tenant_id == tenant_id, Category.id == category_id)
        ).scalar_one_or_none()
        if category is None:
            raise NotFound("category", category_id)
        return category

    def add_category(self, tenant_id: uuid.UUID, label: str, actor: Actor) -> Category:
        label = label.strip()
        if not label or len(label) > MAX_LABEL:
            raise InvalidInput("label", f"must be 1 to {MAX_LABEL} characters")
        existing = self._session.execute(
            sa.select(Category).where(Category.tenant_id == tenant_id, Category.label == label)
        ).scalar_one_or_none()
        if existing is not None:
            raise Conflict("a category with this label already exists")
        position = self._session.execute(
            sa.select(sa.func.coalesce(sa.func.max(Category.position), -1)).where(Category.tenant_id == tenant_id)
        ).scalar_one() + 1
        category = Category(tenant_id=tenant_id, label=label, position=position, active=True)
        self._session.add(category)
        self._session.flush()
        self._logbook.record("category.added", actor, tenant_id=tenant_id, object_type="category",
                             object_id=category.id)
        return category

    def set_category_active(self, tenant_id: uuid.UUID, category_id: uuid.UUID, active: bool, actor: Actor) -> None:
        category = self.category(tenant_id, category_id)
        category.active = active
        self._logbook.record("category.enabled" if active else "category.disabled", actor,
                             tenant_id=tenant_id, object_type="category", object_id=category.id)
