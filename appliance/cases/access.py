"""Who can open a case: its private key sealed to each handler, the reporter and the escrow key.

A case has its own X25519 key pair. The private half is never stored in the clear: one
sealed copy per recipient (``case_key_seals``). Handlers open theirs with their own private
key, which they unlock with their password at sign-in; the reporter opens theirs with a key
derived from the case key; the escrow copy opens only with the offline escrow file. The
server keeps the public half, so it can add content (``CaseCipher`` without a content key)
without being able to read what is there.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from appliance.actors import REPORTER, Actor, Role
from appliance.audit.service import Logbook
from appliance.cases.models import Case, CaseKeySeal
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import FieldCipher, Place
from appliance.crypto.sealing import fingerprint, new_private_key, open_sealed, public_key_of, seal_to
from appliance.errors import CaseLocked, InvalidInput, NotFound
from appliance.tenants.models import ChannelRecipient, EscrowKey
from appliance.users.models import Membership, User

HANDLER, REPORTER_SEAL, ESCROW = "handler", "reporter", "escrow"


@dataclass(frozen=True)
class CaseKeys:
    """An opened case: its cipher, and the private key when the holder has it (to share it)."""

    cipher: CaseCipher
    private_key: bytes | None = None

    @property
    def readable(self) -> bool:
        return self.cipher.readable


@dataclass(frozen=True)
class Holder:
    user_id: uuid.UUID
    current: bool  # False: sealed to a key the user no longer has (password reset)


def reporter_private_key(case_id: uuid.UUID, normalised_case_key: str) -> bytes:
    """80 random bits need no slow KDF: HKDF turns the case key into the reporter's X25519 key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=case_id.bytes,
                info=b"appliance/reporter-key/v1").derive(normalised_case_key.encode())


def _context(case_id: uuid.UUID, kind: str) -> bytes:
    return b"case-private-key\x1f" + case_id.bytes + b"\x1f" + kind.encode()


def _content_wrap(private_key: bytes) -> FieldCipher:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"appliance/case-content-wrap/v1").derive(private_key)
    return FieldCipher(key, 1)


class CaseAccess:
    """Creates, opens, shares and withdraws the sealed copies of case keys."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    # --- new cases ----------------------------------------------------------------------
    def create_keys(self, case: Case, content_key: bytes | None = None) -> CaseKeys:
        """A fresh key pair for a case (and a content key unless one is carried over)."""
        private = new_private_key()
        content_key = content_key or secrets.token_bytes(32)
        case.public_key = public_key_of(private)
        case.content_key_sealed = _content_wrap(private).seal(content_key, Place("cases", "content_key", case.id))
        return CaseKeys(CaseCipher(content_key, private, case.public_key), private)

    def seal_for_reporter(self, case: Case, private_key: bytes, normalised_case_key: str) -> None:
        reporter_public = public_key_of(reporter_private_key(case.id, normalised_case_key))
        case.reporter_public_key = reporter_public
        self._add_seal(case, REPORTER_SEAL, None, reporter_public, private_key)

    def seal_to_channel(self, case: Case, private_key: bytes) -> list[uuid.UUID]:
        """Seal to the tenant's recipients and escrow key; returns the handlers reached."""
        users = self.recipients(case.tenant_id)
        for user in users:
            assert user.public_key is not None
            self._add_seal(case, HANDLER, user.id, user.public_key, private_key)
        escrow = self.current_escrow(case.tenant_id)
        if escrow is not None:
            self._add_seal(case, ESCROW, None, escrow.public_key, private_key)
        return [u.id for u in users]

    def recipients(self, tenant_id: uuid.UUID) -> list[User]:
        """The channel's configured recipients; with none configured, every handler.
        Only active handlers with a key pair can receive (a key pair comes with a password)."""
        query = (sa.select(User).join(Membership, Membership.user_id == User.id)
                 .where(Membership.tenant_id == tenant_id, Membership.role == Role.HANDLER.value,
                        User.disabled_at.is_(None), User.public_key.is_not(None)))
        configured = sa.select(ChannelRecipient.user_id).where(ChannelRecipient.tenant_id == tenant_id)
        if self._session.execute(configured.limit(1)).first() is not None:
            query = query.where(User.id.in_(configured))
        return list(self._session.execute(query.order_by(User.created_at)).scalars().unique())

    def current_escrow(self, tenant_id: uuid.UUID) -> EscrowKey | None:
        return self._session.execute(
            sa.select(EscrowKey).where(EscrowKey.tenant_id == tenant_id, EscrowKey.retired_at.is_(None))
            .order_by(EscrowKey.created_at.desc()).limit(1)
        ).scalar_one_or_none()

    # --- opening ------------------------------------------------------------------------
    def open_for_user(self, case: Case, user_id: uuid.UUID, user_private: bytes | None, actor: Actor) -> CaseKeys:
        if user_private is None:
            raise CaseLocked(case.id, "no-session-key")
        mine = fingerprint(public_key_of(user_private))
        seals = self._session.execute(sa.select(CaseKeySeal).where(
            CaseKeySeal.case_id == case.id, CaseKeySeal.kind == HANDLER, CaseKeySeal.user_id == user_id)).scalars().all()
        seal = next((s for s in seals if s.recipient_fingerprint == mine), None)
        if seal is None:
            raise CaseLocked(case.id, "key-reset" if seals else "no-access")
        private = open_sealed(user_private, seal.sealed, _context(case.id, HANDLER))
        self._logbook.record("case_key.unsealed", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)
        self._complete(case, private)
        return self.keys_from_private(case, private)

    def open_for_reporter(self, case: Case, normalised_case_key: str) -> bytes | None:
        """The case's private key for the reporter, or None while their copy is pending (a case
        sealed by `keys seal-existing`: the next handler to open it completes the reporter's copy)."""
        reporter_private = reporter_private_key(case.id, normalised_case_key)
        seal = self._session.execute(sa.select(CaseKeySeal).where(
            CaseKeySeal.case_id == case.id, CaseKeySeal.kind == REPORTER_SEAL)).scalar_one_or_none()
        if seal is None:
            case.reporter_public_key = case.reporter_public_key or public_key_of(reporter_private)
            return None
        private = open_sealed(reporter_private, seal.sealed, _context(case.id, REPORTER_SEAL))
        self._logbook.record("case_key.unsealed", REPORTER, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)
        return private

    def open_with_escrow(self, case: Case, escrow: EscrowKey, escrow_private: bytes) -> bytes:
        seal = self._session.execute(sa.select(CaseKeySeal).where(
            CaseKeySeal.case_id == case.id, CaseKeySeal.kind == ESCROW,
            CaseKeySeal.recipient_fingerprint == escrow.fingerprint)).scalar_one_or_none()
        if seal is None:
            raise CaseLocked(case.id, "no-access")
        return open_sealed(escrow_private, seal.sealed, _context(case.id, ESCROW))

    def keys_from_private(self, case: Case, private_key: bytes) -> CaseKeys:
        if case.content_key_sealed is None:
            raise CaseLocked(case.id, "no-access")
        content_key = _content_wrap(private_key).open_bytes(case.content_key_sealed,
                                                            Place("cases", "content_key", case.id))
        return CaseKeys(CaseCipher(content_key, private_key, case.public_key), private_key)

    @staticmethod
    def writer(case: Case) -> CaseKeys:
        """Keys that can only add content (the public key), for a writer who cannot read."""
        return CaseKeys(CaseCipher(None, None, case.public_key))

    def _complete(self, case: Case, private_key: bytes) -> None:
        """A key holder completes what the server could not do alone: the reporter's copy of a
        migrated case, and the escrow copy of a case made before the escrow key existed."""
        kinds = set(self._session.execute(sa.select(CaseKeySeal.kind).where(
            CaseKeySeal.case_id == case.id, CaseKeySeal.kind.in_((REPORTER_SEAL, ESCROW)))).scalars())
        if REPORTER_SEAL not in kinds and case.reporter_public_key is not None:
            self._add_seal(case, REPORTER_SEAL, None, case.reporter_public_key, private_key)
        escrow = self.current_escrow(case.tenant_id)
        if ESCROW not in kinds and escrow is not None:
            self._add_seal(case, ESCROW, None, escrow.public_key, private_key)

    # --- sharing ------------------------------------------------------------------------
    def holders(self, case_id: uuid.UUID) -> list[Holder]:
        rows = self._session.execute(
            sa.select(CaseKeySeal.user_id, CaseKeySeal.recipient_fingerprint, User.public_key)
            .join(User, User.id == CaseKeySeal.user_id)
            .where(CaseKeySeal.case_id == case_id, CaseKeySeal.kind == HANDLER)
        ).all()
        return [Holder(user_id, user_public is not None and fingerprint(user_public) == fp)
                for user_id, fp, user_public in rows if user_id is not None]

    def grant(self, case: Case, private_key: bytes, user_id: uuid.UUID, actor: Actor) -> None:
        """Seal the case to another handler of its tenant (replacing a stale copy)."""
        user = self._handler(case.tenant_id, user_id)
        assert user.public_key is not None
        new_fp = fingerprint(user.public_key)
        self._session.execute(sa.delete(CaseKeySeal).where(
            CaseKeySeal.case_id == case.id, CaseKeySeal.kind == HANDLER, CaseKeySeal.user_id == user_id,
            CaseKeySeal.recipient_fingerprint != new_fp))
        if self._seal_exists(case.id, new_fp):
            return
        self._add_seal(case, HANDLER, user.id, user.public_key, private_key)
        self._clear_reset_notice(user, new_fp)
        self._logbook.record("case_access.granted", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"user={user.id}")

    def _clear_reset_notice(self, user: User, current_fp: bytes) -> None:
        """After a password reset, the notice stays until no stale copy is left."""
        if user.keys_reset_at is None:
            return
        stale = self._session.execute(sa.select(CaseKeySeal.id).where(
            CaseKeySeal.kind == HANDLER, CaseKeySeal.user_id == user.id,
            CaseKeySeal.recipient_fingerprint != current_fp).limit(1)).first()
        if stale is None:
            user.keys_reset_at = None

    def revoke(self, case: Case, user_id: uuid.UUID, actor: Actor) -> None:
        """Drop a handler's sealed copy. The last current copy cannot go: nobody could read the case."""
        current = [h for h in self.holders(case.id) if h.current and h.user_id != user_id]
        if not current:
            raise InvalidInput("user", "is the last handler with access; share the case with someone else first")
        result = self._session.execute(sa.delete(CaseKeySeal).where(
            CaseKeySeal.case_id == case.id, CaseKeySeal.kind == HANDLER, CaseKeySeal.user_id == user_id))
        if result.rowcount:  # type: ignore[attr-defined]
            self._logbook.record("case_access.revoked", actor, tenant_id=case.tenant_id, object_type="case",
                                 object_id=case.id, detail=f"user={user_id}")

    def _handler(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
        user = self._session.execute(
            sa.select(User).join(Membership, Membership.user_id == User.id).where(
                User.id == user_id, Membership.tenant_id == tenant_id, Membership.role == Role.HANDLER.value,
                User.disabled_at.is_(None))
        ).scalars().first()
        if user is None:
            raise NotFound("handler", user_id)
        if user.public_key is None:
            raise InvalidInput("user", "has not signed in since the upgrade, so has no key yet")
        return user

    def _seal_exists(self, case_id: uuid.UUID, recipient_fp: bytes) -> bool:
        return self._session.execute(sa.select(CaseKeySeal.id).where(
            CaseKeySeal.case_id == case_id, CaseKeySeal.recipient_fingerprint == recipient_fp)).first() is not None

    def _add_seal(self, case: Case, kind: str, user_id: uuid.UUID | None, public_key: bytes,
                  private_key: bytes) -> None:
        self._session.add(CaseKeySeal(
            id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id, kind=kind, user_id=user_id,
            recipient_fingerprint=fingerprint(public_key), created_at=self._clock(),
            sealed=seal_to(public_key, private_key, _context(case.id, kind))))
