"""Administering case key pairs from the CLI: the escrow key, recovery, and sealing old cases.

The escrow private key never reaches the server: `appliance keys escrow init` writes it on
an offline machine; the server installs only the public half (``install_escrow``), and
seals new reports to it once a reader confirmed it onto the reader list. ``unlock_escrow``
opens the private file with its passphrase for one command, in memory only. Every use is in
the logbook.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.access import HANDLER, CaseAccess
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.clock import Clock
from appliance.crypto.binding import KeyBinding
from appliance.crypto.escrow_file import EscrowPublicKey, read_escrow_file
from appliance.crypto.sealing import fingerprint
from appliance.errors import CaseLocked, Conflict, EscrowError, InvalidInput
from appliance.keys.keyring import TenantKeyring
from appliance.readers.ledger import REKEY
from appliance.readers.models import ReaderChange
from appliance.readers.service import PENDING, ReaderLists, Signer
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


class CaseKeyPairAdmin:
    def __init__(self, session: Session, access: CaseAccess, keyring: TenantKeyring, logbook: Logbook,
                 clock: Clock, readers: ReaderLists, binding: KeyBinding) -> None:
        self._session = session
        self._access = access
        self._keyring = keyring
        self._logbook = logbook
        self._clock = clock
        self._readers = readers
        self._binding = binding

    # --- escrow -------------------------------------------------------------------------
    def install_escrow(self, tenant: Tenant, public: EscrowPublicKey, actor: Actor) -> tuple[EscrowKey, ReaderChange]:
        """Store an escrow public key made offline and propose it for the reader list; nothing is
        sealed to it until a reader confirms it."""
        if public.organisation != tenant.slug:
            raise EscrowError(f"this key was made for organisation {public.organisation!r}, not {tenant.slug!r}")
        box_fp = fingerprint(public.box_public)
        if self._session.execute(sa.select(EscrowKey.id).where(EscrowKey.fingerprint == box_fp)).first():
            raise Conflict("this escrow key is already installed")
        key = EscrowKey(id=uuid.uuid4(), tenant_id=tenant.id, public_key=public.box_public, fingerprint=box_fp,
                        created_at=self._clock(), origin="offline", sign_key=public.sign_public,
                        self_signature=public.signature,
                        mac=self._binding.tag("escrow-key", tenant.id.bytes, public.box_public, public.sign_public))
        self._session.add(key)
        self._session.flush()
        self._logbook.record("escrow.installed", actor, tenant_id=tenant.id, object_type="escrow_key",
                             object_id=key.id)
        return key, self._readers.propose_escrow(tenant.id, key.id, actor, "cli")

    def unlock_escrow(self, tenant: Tenant, file_text: str, passphrase: str, actor: Actor) -> UnlockedEscrow:
        opened = read_escrow_file(file_text, passphrase)
        if opened.organisation not in (tenant.id, tenant.slug):
            raise EscrowError("this file belongs to another organisation")
        key = self._session.execute(sa.select(EscrowKey).where(
            EscrowKey.tenant_id == tenant.id, EscrowKey.fingerprint == opened.fingerprint)).scalar_one_or_none()
        if key is None:
            raise EscrowError("this organisation does not know this escrow key")
        self._logbook.record("escrow.used", actor, tenant_id=tenant.id, object_type="escrow_key", object_id=key.id)
        return UnlockedEscrow(key, opened.private_key)

    # --- recovery -----------------------------------------------------------------------
    def recover_user(self, tenant: Tenant, escrow: UnlockedEscrow, user_id: uuid.UUID, actor: Actor) -> Resealed:
        """Re-seal every case whose copy for this user went stale (password reset). A new key of
        theirs that no reader confirmed yet is confirmed with the escrow key first, when the escrow
        key is on the reader list (the escrow holder can read every case anyway)."""
        user = self._session.get(User, user_id)
        if user is None or user.public_key is None:
            raise InvalidInput("user", "has no key yet; they must sign in and choose their password first")
        self._confirm_rekey(tenant, escrow, user, actor)
        current = self._readers.reader(tenant.id, user_id).box_fingerprint
        case_ids = list(self._session.execute(sa.select(CasePrivateKeySeal.case_id).where(
            CasePrivateKeySeal.tenant_id == tenant.id, CasePrivateKeySeal.kind == HANDLER, CasePrivateKeySeal.user_id == user_id,
            CasePrivateKeySeal.recipient_fingerprint != current)).scalars())
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

    def _confirm_rekey(self, tenant: Tenant, escrow: UnlockedEscrow, user: User, actor: Actor) -> None:
        pending = self._session.execute(sa.select(ReaderChange).where(
            ReaderChange.tenant_id == tenant.id, ReaderChange.user_id == user.id, ReaderChange.kind == REKEY,
            ReaderChange.state == PENDING, ReaderChange.box_key == user.public_key)).scalars().first()
        if pending is None:
            return
        state = self._readers.checked_state(tenant.id)
        if state is None or not any(e.escrow_id == escrow.key.id for e in state.escrow):
            raise EscrowError("this escrow key is not on the reader list, so it cannot confirm the user's new key; "
                              "a reader confirms it on the Readers page")
        self._readers.confirm(tenant.id, pending.id, Signer.escrow(escrow.key.id, escrow.private_key), actor)

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

    # --- bindings ---------------------------------------------------------------------------
    def unbound_case_key_pairs(self, tenant: Tenant) -> int:
        """Sealed cases whose key pair is not bound to them (`db upgrade` binds older ones)."""
        cases = self._session.execute(sa.select(Case).where(
            Case.tenant_id == tenant.id, Case.public_key.is_not(None))).scalars()
        return sum(1 for case in cases if not self._access.is_bound(case))

    def bind_existing(self, batch: int = 500) -> int:
        """Bind the key pairs of cases sealed before 0.3 (run once by `appliance db upgrade`,
        trusting the database as it is at the upgrade); returns how many."""
        cases = self._session.execute(sa.select(Case).where(
            Case.public_key.is_not(None), Case.keys_mac.is_(None)).limit(batch)).scalars().all()
        for case in cases:
            self._access.bind(case)
            if case.reporter_public_key is not None:
                self._access.bind_reporter_key(case)
        self._session.flush()
        return len(cases)

    # --- cases from before sealed keys ----------------------------------------------------
    def unsealed_count(self, tenant: Tenant) -> int:
        return int(self._session.execute(sa.select(sa.func.count()).select_from(Case).where(
            Case.tenant_id == tenant.id, Case.public_key.is_(None))).scalar_one())

    def seal_existing_batch(self, tenant: Tenant, actor: Actor, batch: int = 50) -> int:
        """Convert up to ``batch`` tenant-wrapped cases to sealed keys; returns how many.

        The content key stays (no content is re-encrypted); it gets a new key pair, sealed to
        the confirmed readers who receive new reports and the escrow key, and the
        tenant-wrapped copy is deleted, so the master key no longer opens it. The reporter's
        copy needs their case key, which the server does not have: once the reporter has signed
        in again, a handler restores it on the case page."""
        if not self._access.accepting(tenant.id):
            raise InvalidInput("tenant", "has no confirmed reader and no confirmed escrow key: start the reader "
                                         "list (a handler's Readers page), then try again")
        cases = self._session.execute(sa.select(Case).where(
            Case.tenant_id == tenant.id, Case.public_key.is_(None)).order_by(Case.received_at).limit(batch)
        ).scalars().all()
        for case in cases:
            assert case.wrapped_key is not None
            data_key = self._keyring.legacy_content_key(case.tenant_id, case.id, case.wrapped_key, actor)
            keys = self._access.create_keys(case, content_key=data_key)
            assert keys.private_key is not None
            self._access.seal_to_channel(case, keys.private_key)
            case.wrapped_key = None
            case.key_version = None
            self._logbook.record("case_key_pair.sealed_existing", actor, tenant_id=tenant.id, object_type="case",
                                 object_id=case.id)
        self._session.flush()
        return len(cases)
