"""What a tenant's administrator may do to the accounts of its staff, and the rules that keep an
organisation administrable: nobody removes their own roles, disables their own account or resets
their own password or second factor (the last admin would lock the organisation out, a handler
who drops their own role drops their keys to cases, and an account taken over could cover its
tracks; one's own password is changed on the account page, keeping one's key). The rules live
here, not in a web view, so every caller (web, and the CLI should it ever act for a principal)
gets them.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from appliance.actors import Role, StaffPrincipal
from appliance.errors import NotFound, OwnAccessKept
from appliance.users.service import UserService

PASSWORD_BYTES = 15  # an administrator's one-time password: 20 URL-safe characters
# The changes an administrator confirms before they happen (each takes something away).
Removal = Literal["revoke", "disable", "reset-2fa", "reset-password"]
ACCOUNT_WIDE: frozenset[Removal] = frozenset({"disable", "reset-2fa", "reset-password"})
OWN: dict[Removal, str] = {
    "revoke": "remove your own roles", "disable": "disable your own account",
    "reset-2fa": "reset your own second factor", "reset-password": "reset your own password",
}


@dataclass(frozen=True)
class IssuedPassword:
    """A password an administrator hands over once; the user replaces it at first sign-in."""

    email: str
    password: str


class UserAdministration:
    """A principal administering the users of one tenant; every operation checks that they may."""

    def __init__(self, users: UserService) -> None:
        self._users = users

    def create_user(self, principal: StaffPrincipal, tenant_id: uuid.UUID, email: str,
                    roles: list[Role]) -> IssuedPassword:
        """A new account with roles in this tenant and a one-time password to hand over."""
        if not principal.has(tenant_id, Role.ADMIN):
            raise NotFound("tenant", tenant_id)
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        self._users.create_user(email, password, [(tenant_id, r) for r in roles], principal.actor)
        return IssuedPassword(email, password)

    def grant_role(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        self._users.check_administers(principal, tenant_id, user_id)
        self._users.grant_role(user_id, tenant_id, role, principal.actor)

    def check_removal(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID,
                      removal: Removal) -> str:
        """Every check a removal makes before it happens (NotFound, AccessDenied, OwnAccessKept),
        so a confirmation page asks only about what is allowed; the account's e-mail address."""
        self._users.check_administers(principal, tenant_id, user_id, account_wide=removal in ACCOUNT_WIDE)
        if user_id == principal.user_id:
            raise OwnAccessKept(OWN[removal])
        return self._users.email_of(self._users.get(user_id))

    def revoke_role(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        """Remove a role; never one's own (OwnAccessKept)."""
        self.check_removal(principal, tenant_id, user_id, "revoke")
        self._users.revoke_role(user_id, tenant_id, role, principal.actor)

    def set_disabled(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID,
                     disabled: bool) -> None:
        """Disable or enable an account (everywhere: an admin of every tenant it belongs to); never
        disable one's own."""
        if disabled:
            self.check_removal(principal, tenant_id, user_id, "disable")
        else:
            self._users.check_administers(principal, tenant_id, user_id, account_wide=True)
        self._users.set_disabled(user_id, disabled, principal.actor)

    def reset_two_factor(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.check_removal(principal, tenant_id, user_id, "reset-2fa")
        self._users.reset_two_factor(user_id, principal.actor)

    def reset_password(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID) -> IssuedPassword:
        """A new one-time password; the user's key (and access to cases) goes with the old one.
        Never one's own: that is changed on the account page, where the key stays."""
        self.check_removal(principal, tenant_id, user_id, "reset-password")
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        self._users.set_password(user_id, password, principal.actor)
        return IssuedPassword(self._users.email_of(self._users.get(user_id)), password)

    def email_of(self, principal: StaffPrincipal, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
        """The e-mail address of an account the principal administers account-wide."""
        self._users.check_administers(principal, tenant_id, user_id, account_wide=True)
        return self._users.email_of(self._users.get(user_id))
