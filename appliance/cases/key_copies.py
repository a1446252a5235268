"""Staff members' sealed copies of case private keys: how many cases only one member can open, and
dropping a member's copies when the handler role goes or the account is erased.

Users sit below cases, so ``UserService`` gets these as a value (``HandlerCopies``) instead
of importing the case tables.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from appliance.cases.models import CasePrivateKeySeal
from appliance.errors import InvalidInput


def sole_key_cases(session: Session, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> int:
    """How many cases (of one tenant, or all) only this user's sealed copy can open: no other
    handler and no escrow key holds one."""
    other = aliased(CasePrivateKeySeal)
    query = sa.select(sa.func.count()).select_from(CasePrivateKeySeal).where(
        CasePrivateKeySeal.kind == "handler", CasePrivateKeySeal.user_id == user_id,
        ~sa.exists().where(other.case_id == CasePrivateKeySeal.case_id, other.kind.in_(("handler", "escrow")),
                           sa.or_(other.user_id.is_(None), other.user_id != user_id)))
    if tenant_id is not None:
        query = query.where(CasePrivateKeySeal.tenant_id == tenant_id)
    return int(session.execute(query).scalar_one())


def drop_all_copies(session: Session, user_id: uuid.UUID) -> None:
    """Every sealed copy the user holds, in every tenant (the account is being erased)."""
    session.execute(sa.delete(CasePrivateKeySeal).where(CasePrivateKeySeal.user_id == user_id))


class HandlerCopies:
    """A handler's sealed copies of one tenant's case private keys, on one session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def drop(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        """Drop the user's copies of the tenant's case private keys, unless a case would be left with no
        other copy (raises InvalidInput: share it first)."""
        only_copy = sole_key_cases(self._session, user_id, tenant_id)
        if only_copy:
            raise InvalidInput("role", f"this handler holds the only key to {only_copy} case(s); share them with a "
                                       "colleague first (or set up the escrow key), then remove the role")
        self._session.execute(sa.delete(CasePrivateKeySeal).where(
            CasePrivateKeySeal.tenant_id == tenant_id, CasePrivateKeySeal.kind == "handler",
            CasePrivateKeySeal.user_id == user_id))
