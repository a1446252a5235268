"""Every route declares who may use it; requests to a route without a policy are refused.

Policies:
- ``public``            anyone (static files, health checks)
- ``monitoring``        anyone who reaches it: the application adds no check of its own;
                        nginx lets only the monitoring network through (/metrics)
- ``reporter``          anonymous reporters (no staff session is read)
- ``reporter-session``  a reporter who entered a valid case key
- ``staff-signin``      staff in the middle of signing in
- ``staff``             any fully signed-in staff user
- ``staff:<role>``      signed-in staff holding <role> in at least one tenant
- ``api:<scope>``       a bearer token (``Authorization: Bearer``) carrying <scope>; no cookie
                        is read, so a staff session gives no API access (webapp/api/guard.py)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from appliance.actors import Role
from appliance.api_tokens.service import Scope

F = TypeVar("F", bound=Callable[..., object])
ATTRIBUTE = "access_policy"
FIXED = frozenset({"public", "monitoring", "reporter", "reporter-session", "staff-signin", "staff"})
POLICIES = FIXED | {f"staff:{r.value}" for r in Role} | {f"api:{s.value}" for s in Scope}


def access(policy: str) -> Callable[[F], F]:
    if policy not in POLICIES:
        raise ValueError(f"unknown access policy {policy!r}")

    def mark(view: F) -> F:
        setattr(view, ATTRIBUTE, policy)
        return view

    return mark


def policy_of(view: Callable[..., object] | None) -> str | None:
    return getattr(view, ATTRIBUTE, None) if view is not None else None


def required_role(policy: str) -> Role | None:
    return Role(policy.split(":", 1)[1]) if policy.startswith("staff:") else None


def required_scope(policy: str) -> Scope | None:
    return Scope(policy.split(":", 1)[1]) if policy.startswith("api:") else None
