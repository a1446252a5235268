"""Administering case keys from the CLI: the escrow key, recovery, and sealing old cases.

The escrow private key never reaches the database: `init_escrow` returns the only copy as
printable text for the compliance lead; `unlock_escrow` opens that file with its
passphrase for one command. Every use is in the logbook.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.access import HANDLER, CaseAccess
from appliance.cases.models import Case, CaseKeySeal
from appliance.clock import Clock
from appliance.crypto.escrow_file import check_passphrase, read_escrow_file, write_escrow_file
from appliance.crypto.keyring import TenantKeyring
from appliance.crypto.passwords import Argon2Params
from appliance.crypto.sealing import fingerprint, new_private_key, public_key_of
from appliance.errors import CaseLocked, Conflict, EscrowError, InvalidInput
from appliance.tenants.models import EscrowKey, Tenant
from appliance.users.models import User


@dataclass(frozen=True)
class UnlockedEscrow:
    key: EscrowKey
    private_key: bytes


@dataclass(frozen=True)
class Resealed:
    done: int
    skipped: int  # cases the escrow key cannot open (sealed before it existed)


class CaseKeyAdmin:
    def __init__(self, session: Session, access: CaseAccess, keyring: TenantKeyring, logbook: Logbook,
                 clock: Clock, params: Argon2Params) -> None:
        self._session = session
        self._access = access
        self._keyring = keyring
        self._logbook = logbook
        self._clock = clock
        self._params = params

    # --- escrow -------------------------------------------------------------------------
    def init_escrow(self, tenant: Tenant, passphrase: str, actor: Actor, replace: bool = False) -> tuple[EscrowKey, str]:
        """A new escrow key pair: the public half stored, the private half returned once as a file."""
        check_passphrase(passphrase)
        current = self._access.current_escrow(tenant.id)
        if current is not None and not replace:
            raise Conflict("this organisation already has an escrow key (use --replace to make a new one)")
        now = self._clock()
        if current is not None:
            current.retired_at = now
        private = new_private_key()
        public = public_key_of(private)
        key = EscrowKey(id=uuid.uuid4(), tenant_id=tenant.id, public_key=public, fingerprint=fingerprint(public),
                        created_at=now)
        self._session.add(key)
        self._session.flush()
        self._logbook.record("escrow.created", actor, tenant_id=tenant.id, object_type="escrow_key",
                             object_id=key.id, detail="replaced" if current is not None else None)
        return key, write_escrow_file(tenant.id, tenant.slug, private, passphrase, self._params, now)

    def unlock_escrow(self, tenant: Tenant, file_text: str, passphrase: str, actor: Actor) -> UnlockedEscrow:
        opened = read_escrow_file(file_text, passphrase)
        if opened.tenant_id != tenant.id:
            raise EscrowError("this file belongs to another organisation")
        key = self._session.execute(sa.select(EscrowKey).where(
            EscrowKey.tenant_id == tenant.id, EscrowKey.fingerprint == opened.fingerprint)).scalar_one_or_none()
        if key is None:
            raise EscrowError("this organisation does not know this escrow key")
        self._logbook.record("escrow.used", actor, tenant_id=tenant.id, object_type="escrow_key", object_id=key.id)
        return UnlockedEscrow(key, opened.private_key)

    # --- recovery -----------------------------------------------------------------------
    def recover_user(self, tenant: Tenant, escrow: UnlockedEscrow, user_id: uuid.UUID, actor: Actor) -> Resealed:
        """Re-seal every case whose copy for this user went stale (password reset)."""
        user = self._session.get(User, user_id)
        if user is None or user.public_key is None:
            raise InvalidInput("user", "has no key yet; they must sign in once first")
        current = fingerprint(user.public_key)
        case_ids = list(self._session.execute(sa.select(CaseKeySeal.case_id).where(
            CaseKeySeal.tenant_id == tenant.id, CaseKeySeal.kind == HANDLER, CaseKeySeal.user_id == user_id,
            CaseKeySeal.recipient_fingerprint != current)).scalars())
        result = self._reseal(tenant, escrow, case_ids, user_id, actor)
        self._logbook.record("escrow.recovered_user", actor, tenant_id=tenant.id, object_type="user",
                             object_id=user_id, detail=f"cases={result.done} skipped={result.skipped}")
        return result

    def grant_with_escrow(self, tenant: Tenant, escrow: UnlockedEscrow, user_id: uuid.UUID,
                          references: list[str] | None, actor: Actor) -> Resealed:
        """Give a handler access to the named cases (all of the tenant's when None)."""
        query = sa.select(Case.id).where(Case.tenant_id == tenant.id, Case.public_key.is_not(None))
        if references is not None:
            query = query.where(Case.reference.in_(references))
        case_ids = list(self._session.execute(query).scalars())
        if references is not None and len(case_ids) != len(set(references)):
            raise InvalidInput("case", "is not a case of this organisation")
        result = self._reseal(tenant, escrow, case_ids, user_id, actor)
        self._logbook.record("escrow.granted", actor, tenant_id=tenant.id, object_type="user",
                             object_id=user_id, detail=f"cases={result.done} skipped={result.skipped}")
        return result

    def _reseal(self, tenant: Tenant, escrow: UnlockedEscrow, case_ids: list[uuid.UUID], user_id: uuid.UUID,
                actor: Actor) -> Resealed:
        done = skipped = 0
        for case_id in case_ids:
            case = self._session.get(Case, case_id)
            assert case is not None and case.tenant_id == tenant.id
            try:
                private = self._access.open_with_escrow(case, escrow.key, escrow.private_key)
            except CaseLocked:
                skipped += 1
                continue
            self._access.grant(case, private, user_id, actor)
            done += 1
        return Resealed(done, skipped)

    # --- cases from before sealed keys ----------------------------------------------------
    def unsealed_count(self, tenant: Tenant) -> int:
        return int(self._session.execute(sa.select(sa.func.count()).select_from(Case).where(
            Case.tenant_id == tenant.id, Case.public_key.is_(None))).scalar_one())

    def seal_existing_batch(self, tenant: Tenant, actor: Actor, batch: int = 50) -> int:
        """Convert up to ``batch`` tenant-wrapped cases to sealed keys; returns how many.

        The content key stays (no content is re-encrypted); it gets a new key pair, sealed to
        the channel's recipients and the escrow key, and the tenant-wrapped copy is deleted,
        so the master key no longer opens it. The reporter's copy needs their case key, which
        the server does not have: it is completed when the reporter next signs in and a
        handler then opens the case."""
        if not self._access.recipients(tenant.id) and self._access.current_escrow(tenant.id) is None:
            raise InvalidInput("tenant", "has no handler with a key and no escrow key: run `appliance keys "
                                         "escrow init` or have a handler sign in once, then try again")
        cases = self._session.execute(sa.select(Case).where(
            Case.tenant_id == tenant.id, Case.public_key.is_(None)).order_by(Case.received_at).limit(batch)
        ).scalars().all()
        for case in cases:
            assert case.wrapped_key is not None
            data_key = self._keyring.case_data_key(case.tenant_id, case.id, case.wrapped_key, actor)
            keys = self._access.create_keys(case, content_key=data_key)
            assert keys.private_key is not None
            self._access.seal_to_channel(case, keys.private_key)
            case.wrapped_key = None
            case.key_version = None
            self._logbook.record("case_key.sealed_existing", actor, tenant_id=tenant.id, object_type="case",
                                 object_id=case.id)
        self._session.flush()
        return len(cases)
