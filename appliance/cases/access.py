"""Who can open a case: its private key sealed to each handler, the reporter and the escrow key.

A case has its own X25519 *case key pair* and a symmetric *content key*, kept sealed under
the pair. The private half is never stored in the clear: one sealed copy per recipient
(``CasePrivateKeySeal``, table ``case_key_seals``). Handlers open theirs with their own
private key, which they unlock with their password at sign-in; the reporter opens theirs with
a key derived from their *case key* (the 80-bit code, ``CaseKey``); the escrow copy opens
only with the offline escrow file. The server keeps the public half, so it can add content
(``CaseCipher`` without a content key) without being able to read what is there.

Copies are made only to keys on the tenant's confirmed reader list (``appliance.readers``),
never to a key a ``users`` or ``escrow_keys`` row merely holds: a new report to the readers
who receive new reports and the escrow key, a shared case to the colleague's confirmed key.
Opening a case never adds a copy for anyone. The case's own key pair carries a MAC under the
master key's key binding, so a key pair swapped in SQL is refused before anything is written
with it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from appliance.actors import REPORTER, Actor
from appliance.audit.service import Logbook
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.clock import Clock
from appliance.crypto.binding import KeyBinding
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.case_keys import CaseKey
from appliance.crypto.fields import FieldCipher, Place
from appliance.crypto.sealing import fingerprint, new_private_key, open_sealed, public_key_of, seal_to
from appliance.errors import CaseLocked, InvalidInput, KeyBindingInvalid, ReaderListTampered
from appliance.readers.service import HANDLER_TARGET, ReaderLists, SealingTarget
from appliance.tenants.models import EscrowKey
from appliance.users.models import User

HANDLER, REPORTER_SEAL, ESCROW = "handler", "reporter", "escrow"


@dataclass(frozen=True)
class OpenedCase:
    """A case as its holder opened it: its cipher (readable, or only able to add content), and
    the case key pair's private half when the holder has it (to share it)."""

    cipher: CaseCipher
    private_key: bytes | None = None

    @property
    def readable(self) -> bool:
        return self.cipher.readable


@dataclass(frozen=True)
class Holder:
    user_id: uuid.UUID
    current: bool  # False: sealed to a key the user no longer has (password reset)


def reporter_private_key(case_id: uuid.UUID, case_key: CaseKey) -> bytes:
    """80 random bits need no slow KDF: HKDF turns the case key into the reporter's X25519 key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=case_id.bytes,
                info=b"appliance/reporter-key/v1").derive(case_key.normalised.encode())


def _context(case_id: uuid.UUID, kind: str) -> bytes:
    return b"case-private-key\x1f" + case_id.bytes + b"\x1f" + kind.encode()


def _content_wrap(private_key: bytes) -> FieldCipher:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"appliance/case-content-wrap/v1").derive(private_key)
    return FieldCipher(key, 1)


class CaseAccess:
    """Creates, opens, shares and withdraws the sealed copies of case key pairs' private halves."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock, readers: ReaderLists,
                 binding: KeyBinding) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock
        self._readers = readers
        self._binding = binding

    # --- new cases ----------------------------------------------------------------------
    def create_keys(self, case: Case, content_key: bytes | None = None) -> OpenedCase:
        """A fresh key pair for a case (and a content key unless one is carried over), bound to
        the case by a MAC."""
        private = new_private_key()
        content_key = content_key or secrets.token_bytes(32)
        case.public_key = public_key_of(private)
        case.content_key_sealed = _content_wrap(private).seal(content_key, Place("cases", "content_key", case.id))
        self.bind(case)
        return OpenedCase(CaseCipher(content_key, private, case.public_key), private)

    def bind(self, case: Case) -> None:
        """(Re)compute the MAC over the case's key pair (new cases; `db upgrade` for older ones)."""
        assert case.public_key is not None and case.content_key_sealed is not None
        case.keys_mac = self._binding.tag("case-keys", *_key_pair_parts(case))

    def seal_for_reporter(self, case: Case, private_key: bytes, case_key: CaseKey) -> None:
        reporter_public = public_key_of(reporter_private_key(case.id, case_key))
        self._set_reporter_key(case, reporter_public)
        self._add_seal(case, REPORTER_SEAL, None, reporter_public, private_key)

    def seal_to_channel(self, case: Case, private_key: bytes,
                        targets: Sequence[SealingTarget] | None = None) -> list[uuid.UUID]:
        """Seal to the keys on the tenant's confirmed reader list that receive new reports (and
        its escrow key); returns the handlers reached. ``targets``: the list's keys as
        ``channel_targets`` just read them in this transaction (read again when None)."""
        reached = []
        if targets is None:
            targets = self._readers.sealing_targets(case.tenant_id, case.reporting_channel_id)
        for target in targets:
            if target.kind == HANDLER_TARGET:
                assert target.user_id is not None
                self._add_seal(case, HANDLER, target.user_id, target.box_key, private_key)
                reached.append(target.user_id)
            else:
                self._add_seal(case, ESCROW, None, target.box_key, private_key)
        return reached

    def accepting(self, tenant_id: uuid.UUID, channel_id: uuid.UUID | None = None) -> bool:
        """Whether a report filed now (through this reporting channel) would be sealed to anyone:
        a confirmed reader who receives its reports, or a confirmed escrow key. False (and logged)
        when the list does not verify."""
        return bool(self.channel_targets(tenant_id, channel_id))

    def channel_targets(self, tenant_id: uuid.UUID, channel_id: uuid.UUID | None = None) -> list[SealingTarget]:
        """The keys a report filed now through this reporting channel is sealed to; empty when
        there are none or the list does not verify (logged). Filing reads them once and passes
        them to ``seal_to_channel``."""
        try:
            return self._readers.sealing_targets(tenant_id, channel_id)
        except ReaderListTampered:
            return []

    # --- opening ------------------------------------------------------------------------
    def open_for_user(self, case: Case, user_id: uuid.UUID, user_private: bytes | None, actor: Actor) -> OpenedCase:
        if user_private is None:
            raise CaseLocked(case.id, "no-session-key")
        mine = fingerprint(public_key_of(user_private))
        seals = self._session.execute(sa.select(CasePrivateKeySeal).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == HANDLER,
            CasePrivateKeySeal.user_id == user_id)).scalars().all()
        seal = next((s for s in seals if s.recipient_fingerprint == mine), None)
        if seal is None:
            raise CaseLocked(case.id, "key-reset" if seals else "no-access")
        private = open_sealed(user_private, seal.sealed, _context(case.id, HANDLER))
        keys = self.keys_from_private(case, private)
        self._logbook.record("case_key_pair.unsealed", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)
        return keys

    def open_for_reporter(self, case: Case, case_key: CaseKey) -> bytes | None:
        """The case's private key for the reporter, or None while their copy is pending (a case
        sealed by `keys seal-existing`: a handler restores the reporter's copy by choice, on the
        case page, once the reporter has signed in; nothing is added by itself)."""
        reporter_private = reporter_private_key(case.id, case_key)
        seal = self._session.execute(sa.select(CasePrivateKeySeal).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == REPORTER_SEAL)).scalar_one_or_none()
        if seal is None:
            if case.reporter_public_key is None:
                self._set_reporter_key(case, public_key_of(reporter_private))
            return None
        private = open_sealed(reporter_private, seal.sealed, _context(case.id, REPORTER_SEAL))
        self._logbook.record("case_key_pair.unsealed", REPORTER, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)
        return private

    def open_with_escrow(self, case: Case, escrow: EscrowKey, escrow_private: bytes) -> bytes:
        seal = self._session.execute(sa.select(CasePrivateKeySeal).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == ESCROW,
            CasePrivateKeySeal.recipient_fingerprint == escrow.fingerprint)).scalar_one_or_none()
        if seal is None:
            raise CaseLocked(case.id, "no-access")
        private = open_sealed(escrow_private, seal.sealed, _context(case.id, ESCROW))
        self.keys_from_private(case, private)  # the case's keys must be its own
        return private

    def keys_from_private(self, case: Case, private_key: bytes) -> OpenedCase:
        """The case's cipher from its private key, refused when the stored key pair is not the
        case's own (swapped in SQL: anything written with it could be read by whoever did that)."""
        if case.content_key_sealed is None:
            raise CaseLocked(case.id, "no-access")
        self._check_bound(case)
        if public_key_of(private_key) != case.public_key:
            raise KeyBindingInvalid("case", case.id)
        content_key = _content_wrap(private_key).open_bytes(case.content_key_sealed,
                                                            Place("cases", "content_key", case.id))
        return OpenedCase(CaseCipher(content_key, private_key, case.public_key), private_key)

    def writer(self, case: Case) -> OpenedCase:
        """Keys that can only add content (the public key), for a writer who cannot read."""
        self._check_bound(case)
        return OpenedCase(CaseCipher(None, None, case.public_key))

    def reporter_copy_pending(self, case: Case) -> bool:
        """A case from before sealed keys whose reporter has signed in since: a handler may give
        them their copy back (``restore_reporter_copy``)."""
        if case.reporter_public_key is None or not self._reporter_key_bound(case):
            return False
        return self._session.execute(sa.select(CasePrivateKeySeal.id).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == REPORTER_SEAL)).first() is None

    def restore_reporter_copy(self, case: Case, private_key: bytes, actor: Actor) -> None:
        """A handler's deliberate act: seal the case to the key the reporter's case key gave when
        they last signed in (bound by the server then; never done by opening a case)."""
        if not self.reporter_copy_pending(case):
            raise InvalidInput("reporter", "has no copy waiting to be restored")
        assert case.reporter_public_key is not None
        self._add_seal(case, REPORTER_SEAL, None, case.reporter_public_key, private_key)
        self._logbook.record("case_access.reporter_restored", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)

    # --- sharing ------------------------------------------------------------------------
    def holders(self, case_id: uuid.UUID) -> list[Holder]:
        rows = self._session.execute(
            sa.select(CasePrivateKeySeal.user_id, CasePrivateKeySeal.recipient_fingerprint, User.public_key)
            .join(User, User.id == CasePrivateKeySeal.user_id)
            .where(CasePrivateKeySeal.case_id == case_id, CasePrivateKeySeal.kind == HANDLER)
        ).all()
        return [Holder(user_id, user_public is not None and fingerprint(user_public) == fp)
                for user_id, fp, user_public in rows if user_id is not None]

    def grant(self, case: Case, private_key: bytes, user_id: uuid.UUID, actor: Actor) -> None:
        """Seal the case to a colleague's confirmed key (replacing a stale copy). Only readers on
        the tenant's list can receive one: NotAReader otherwise."""
        reader = self._readers.reader(case.tenant_id, user_id)
        new_fp = reader.box_fingerprint
        self._session.execute(sa.delete(CasePrivateKeySeal).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == HANDLER, CasePrivateKeySeal.user_id == user_id,
            CasePrivateKeySeal.recipient_fingerprint != new_fp))
        if self._seal_exists(case.id, new_fp):
            return
        self._add_seal(case, HANDLER, user_id, reader.box_key, private_key)
        user = self._session.get(User, user_id)
        if user is not None:
            self._clear_reset_notice(user, new_fp)
        self._logbook.record("case_access.granted", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"user={user_id}")

    def _clear_reset_notice(self, user: User, current_fp: bytes) -> None:
        """After a password reset, the notice stays until no stale copy is left."""
        if user.keys_reset_at is None:
            return
        stale = self._session.execute(sa.select(CasePrivateKeySeal.id).where(
            CasePrivateKeySeal.kind == HANDLER, CasePrivateKeySeal.user_id == user.id,
            CasePrivateKeySeal.recipient_fingerprint != current_fp).limit(1)).first()
        if stale is None:
            user.keys_reset_at = None

    def revoke(self, case: Case, user_id: uuid.UUID, actor: Actor) -> None:
        """Drop a handler's sealed copy. The last current copy cannot go: nobody could read the case."""
        current = [h for h in self.holders(case.id) if h.current and h.user_id != user_id]
        if not current:
            raise InvalidInput("user", "is the last handler with access; share the case with someone else first")
        result = self._session.execute(sa.delete(CasePrivateKeySeal).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == HANDLER, CasePrivateKeySeal.user_id == user_id))
        if result.rowcount:  # type: ignore[attr-defined]
            self._logbook.record("case_access.revoked", actor, tenant_id=case.tenant_id, object_type="case",
                                 object_id=case.id, detail=f"user={user_id}")

    def _seal_exists(self, case_id: uuid.UUID, recipient_fp: bytes) -> bool:
        return self._session.execute(sa.select(CasePrivateKeySeal.id).where(
            CasePrivateKeySeal.case_id == case_id, CasePrivateKeySeal.recipient_fingerprint == recipient_fp)).first() is not None

    def _add_seal(self, case: Case, kind: str, user_id: uuid.UUID | None, public_key: bytes,
                  private_key: bytes) -> None:
        self._session.add(CasePrivateKeySeal(
            id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id, kind=kind, user_id=user_id,
            recipient_fingerprint=fingerprint(public_key), created_at=self._clock(),
            sealed=seal_to(public_key, private_key, _context(case.id, kind))))

    def is_bound(self, case: Case) -> bool:
        return case.public_key is not None and case.content_key_sealed is not None and self._binding.check(
            case.keys_mac, "case-keys", *_key_pair_parts(case))

    def bind_reporter_key(self, case: Case) -> None:
        assert case.reporter_public_key is not None
        self._set_reporter_key(case, case.reporter_public_key)

    def _check_bound(self, case: Case) -> None:
        if not self.is_bound(case):
            raise KeyBindingInvalid("case", case.id)

    def _set_reporter_key(self, case: Case, reporter_public: bytes) -> None:
        case.reporter_public_key = reporter_public
        case.reporter_key_mac = self._binding.tag("reporter-key", case.id.bytes, reporter_public)

    def _reporter_key_bound(self, case: Case) -> bool:
        return case.reporter_public_key is not None and self._binding.check(
            case.reporter_key_mac, "reporter-key", case.id.bytes, case.reporter_public_key)


def _key_pair_parts(case: Case) -> tuple[bytes, ...]:
    assert case.public_key is not None and case.content_key_sealed is not None
    return case.id.bytes, bytes(case.public_key), bytes(case.content_key_sealed)
