"""Who is acting: recorded in the logbook and checked by services."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


class Role(enum.StrEnum):
    ADMIN = "admin"
    HANDLER = "handler"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    INSIDER_MANAGER = "insider-manager"


@dataclass(frozen=True)
class Actor:
    """An acting party. ``kind`` is one of user, reporter, system, cli."""

    kind: str
    user_id: uuid.UUID | None = None

    @property
    def audit_id(self) -> str | None:
        return str(self.user_id) if self.user_id else None


REPORTER = Actor("reporter")
SYSTEM = Actor("system")
CLI = Actor("cli")


@dataclass(frozen=True)
class StaffPrincipal:
    """A signed-in staff user and the roles they hold per tenant."""

    user_id: uuid.UUID
    roles: frozenset[tuple[uuid.UUID, Role]] = field(default_factory=frozenset)
    # The user's X25519 private key, unlocked from their session for this request only.
    private_key: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def actor(self) -> Actor:
        return Actor("user", self.user_id)

    def has(self, tenant_id: uuid.UUID, role: Role) -> bool:
        return (tenant_id, role) in self.roles

    def tenants_with(self, role: Role) -> frozenset[uuid.UUID]:
        return frozenset(t for t, r in self.roles if r == role)

    def has_any(self, role: Role) -> bool:
        return any(r == role for _, r in self.roles)
