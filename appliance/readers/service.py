"""Who can read a tenant's reports: the confirmed reader list, and changes to it.

A change (a new reader, a reader removed, receiving new reports or not, a reader's new key
after a password reset, a new escrow key) is first *proposed* — by an administrator, by IT
on the command line, or by the system — and takes effect only when a reader already on the
list confirms it in the web app, signing the new list with their own key (or the escrow
holder does, with the offline escrow file). The first reader of a list signs it themselves
and the compliance lead confirms it by typing the fingerprint that reader reads out from
their own page. Every proposal and decision is mailed to every reader and administrator of
the tenant (``appliance.readers.notices``) and written to the logbook.

Until a change is confirmed, new reports are sealed only to the confirmed list, and only
to the keys the list holds (never to whatever a ``users`` row says now).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor, Role, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.binding import KeyBinding
from appliance.crypto.escrow_file import escrow_signature_valid
from appliance.crypto.sealing import public_key_of
from appliance.crypto.signing import (
    fingerprint_matches,
    key_fingerprint,
    sign,
    signing_public,
    signing_seed,
    user_keys_signed,
    user_keys_statement,
    verify,
)
from appliance.errors import (
    AccessDenied,
    Conflict,
    InvalidInput,
    KeyBindingInvalid,
    NotAReader,
    NotFound,
    ReaderListTampered,
)
from appliance.readers.ledger import (
    ADD,
    CHANNEL,
    ENTRY_CONTEXT,
    ESCROW,
    ESCROW_SIGNER,
    GENESIS_PREV,
    RECEIVES,
    REKEY,
    REMOVE,
    START,
    USER,
    Change,
    ChannelReaders,
    EntryRecord,
    EscrowReader,
    Reader,
    ReaderState,
    apply_full,
    channel_signer_refused,
    encode_body,
    entry_hash,
    mac_parts,
    verify_chain,
)
from appliance.readers.models import ReaderChange, ReaderListEntry, ReaderNotice
from appliance.tenants.models import EscrowKey, ReportingChannel, Tenant
from appliance.users.models import Membership, User

PENDING, CONFIRMED, REJECTED, WITHDRAWN, SUPERSEDED = "pending", "confirmed", "rejected", "withdrawn", "superseded"
HANDLER_TARGET, ESCROW_TARGET = "handler", "escrow"


@dataclass(frozen=True)
class Signer:
    """Who signs a new entry: a reader with the key unlocked in their session, or the escrow
    holder with the offline file."""

    kind: str
    id: uuid.UUID
    seed: bytes = field(repr=False)

    @classmethod
    def user(cls, principal: StaffPrincipal) -> Signer:
        if principal.private_key is None:
            raise NotAReader(principal.user_id, "key-changed")
        return cls(USER, principal.user_id, signing_seed(principal.private_key))

    @classmethod
    def escrow(cls, escrow_id: uuid.UUID, escrow_private: bytes) -> Signer:
        return cls(ESCROW_SIGNER, escrow_id, signing_seed(escrow_private))

    @property
    def sign_public(self) -> bytes:
        return signing_public(self.seed)


@dataclass(frozen=True)
class SealingTarget:
    """A key new reports are sealed to: a confirmed reader's (``user_id``) or the escrow key."""

    kind: str
    user_id: uuid.UUID | None
    box_key: bytes


class VerifiedLists:
    """Verified lists of this process, by tenant, kept while their newest entry is unchanged.
    What a list verified to stays true for that exact chain; any new, changed or dropped head
    entry is verified again from the start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[uuid.UUID, tuple[tuple[int, bytes, bytes], ReaderState]] = {}

    def get(self, tenant_id: uuid.UUID, head: tuple[int, bytes, bytes]) -> ReaderState | None:
        with self._lock:
            found = self._states.get(tenant_id)
        return found[1] if found is not None and found[0] == head else None

    def put(self, tenant_id: uuid.UUID, head: tuple[int, bytes, bytes], state: ReaderState) -> None:
        with self._lock:
            self._states[tenant_id] = (head, state)


class ReaderLists:
    """Reads the verified reader lists; proposes, confirms and declines changes. Never commits."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock, binding: KeyBinding,
                 cache: VerifiedLists) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock
        self._binding = binding
        self._cache = cache

    # --- reading ------------------------------------------------------------------------
    def state(self, tenant_id: uuid.UUID) -> ReaderState | None:
        """The tenant's list, verified entry by entry (None before it is started);
        ReaderListTampered when any entry fails."""
        head = self._session.execute(
            sa.select(ReaderListEntry.seq, ReaderListEntry.mac, ReaderListEntry.signature)
            .where(ReaderListEntry.tenant_id == tenant_id).order_by(ReaderListEntry.seq.desc()).limit(1)
        ).first()
        if head is None:
            return None
        key = (int(head.seq), bytes(head.mac), bytes(head.signature))
        cached = self._cache.get(tenant_id, key)
        if cached is not None:
            return cached
        rows = self._session.execute(sa.select(ReaderListEntry).where(ReaderListEntry.tenant_id == tenant_id)
                                     .order_by(ReaderListEntry.seq)).scalars().all()
        state = verify_chain(tenant_id, [_record(row) for row in rows], self._binding)
        assert state is not None
        self._cache.put(tenant_id, key, state)
        return state

    def checked_state(self, tenant_id: uuid.UUID) -> ReaderState | None:
        """``state``, with a failure written to the logbook (``readers.tampered``) before it is raised."""
        try:
            return self.state(tenant_id)
        except ReaderListTampered as exc:
            self._logbook.record("readers.tampered", Actor("system"), tenant_id=tenant_id, object_type="tenant",
                                 object_id=tenant_id, detail=f"entry={exc.seq}")
            raise

    def sealing_targets(self, tenant_id: uuid.UUID, channel_id: uuid.UUID | None = None) -> list[SealingTarget]:
        """The keys a new report is sealed to: confirmed readers who receive new reports (of this
        reporting channel, when its readers are on the list) and are still active handlers here,
        and the confirmed escrow key. Empty while the list is not started; ReaderListTampered
        (logged) when it does not verify."""
        state = self.checked_state(tenant_id)
        if state is None:
            return []
        receiving = state.receiving_in(channel_id)
        usable = self._usable(tenant_id, receiving)
        targets = [SealingTarget(HANDLER_TARGET, r.user_id, r.box_key) for r in receiving if r.user_id in usable]
        return targets + [SealingTarget(ESCROW_TARGET, None, e.box_key) for e in state.escrow]

    def reader(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Reader:
        """A confirmed reader who is an active handler here and still has the key the list holds
        (NotAReader otherwise: a copy sealed to a key its owner lost would open for nobody)."""
        state = self.checked_state(tenant_id)
        reader = state.reader(user_id) if state is not None else None
        if reader is None or user_id not in self._active_handlers(tenant_id, [user_id]):
            raise NotAReader(user_id)
        if user_id not in self._usable(tenant_id, (reader,)):
            raise NotAReader(user_id, "key-changed")
        return reader

    def confirmed_user_ids(self, tenant_id: uuid.UUID) -> set[uuid.UUID]:
        """The users on the verified list (empty when there is none or it does not verify)."""
        try:
            state = self.state(tenant_id)
        except ReaderListTampered:
            return set()
        return {r.user_id for r in state.readers} if state else set()

    def pending(self, tenant_id: uuid.UUID) -> list[ReaderChange]:
        return list(self._session.execute(sa.select(ReaderChange).where(
            ReaderChange.tenant_id == tenant_id, ReaderChange.state == PENDING)
            .order_by(ReaderChange.created_at, ReaderChange.id)).scalars())

    def change(self, tenant_id: uuid.UUID, change_id: uuid.UUID) -> ReaderChange:
        row = self._session.get(ReaderChange, change_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound("reader change", change_id)
        return row

    def history(self, tenant_id: uuid.UUID) -> list[ReaderChange]:
        """Decided changes, newest first."""
        return list(self._session.execute(sa.select(ReaderChange).where(
            ReaderChange.tenant_id == tenant_id, ReaderChange.state != PENDING)
            .order_by(ReaderChange.decided_at.desc(), ReaderChange.id).limit(50)).scalars())

    # --- proposing ----------------------------------------------------------------------
    def request_start(self, tenant_id: uuid.UUID, principal: StaffPrincipal) -> ReaderChange:
        """A handler asks to be the first reader: they sign the first entry now, with the key
        in their session; it takes effect when an administrator of the tenant confirms it by
        typing this handler's fingerprint (``confirm_start``)."""
        if not principal.has(tenant_id, Role.HANDLER):
            raise AccessDenied("start the reader list of an organisation you do not handle")
        if self._has_entries(tenant_id):
            raise Conflict("the reader list is already started; ask a reader to add you")
        user = self._session.get(User, principal.user_id)
        assert user is not None
        signer = Signer.user(principal)
        reader = self._reader_of(user, session_private=principal.private_key)
        change = Change(START, reader=reader)
        body = encode_body(tenant_id, 1, GENESIS_PREV, self._clock(), change, (reader,), ())
        row = self._new_change(tenant_id, START, Actor("user", user.id), "web", user_id=user.id, keys=reader)
        row.start_body, row.start_signature = body, sign(signer.seed, ENTRY_CONTEXT, body)
        return row

    def propose_add(self, tenant_id: uuid.UUID, user_id: uuid.UUID, actor: Actor, via: str,
                    receives: bool = True) -> ReaderChange:
        """Propose a handler as a reader (with the keys they have now)."""
        state = self._started(tenant_id)
        if state.reader(user_id) is not None:
            raise Conflict("this handler is already a reader")
        user = self._handler(tenant_id, user_id)
        return self._new_change(tenant_id, ADD, actor, via, user_id=user.id, keys=self._reader_of(user),
                                receives=receives)

    def propose_remove(self, tenant_id: uuid.UUID, user_id: uuid.UUID, actor: Actor, via: str) -> ReaderChange:
        state = self._started(tenant_id)
        if state.reader(user_id) is None:
            raise NotAReader(user_id)
        if len(state.readers) == 1:
            raise InvalidInput("user", "is the only reader; add another reader first")
        if any(c.members == (user_id,) for c in state.channels):
            raise InvalidInput("user", "is the only reader of a channel; change that channel's readers first")
        return self._new_change(tenant_id, REMOVE, actor, via, user_id=user_id)

    def propose_receives(self, tenant_id: uuid.UUID, user_id: uuid.UUID, receives: bool, actor: Actor,
                         via: str) -> ReaderChange:
        state = self._started(tenant_id)
        reader = state.reader(user_id)
        if reader is None:
            raise NotAReader(user_id)
        if reader.receives == receives:
            raise Conflict("nothing to change")
        return self._new_change(tenant_id, RECEIVES, actor, via, user_id=user_id, receives=receives)

    def propose_channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID, members: Sequence[uuid.UUID],
                        actor: Actor, via: str) -> ReaderChange:
        """Propose which readers of the list receive one reporting channel's reports. A reader of
        that channel (any reader, for a channel without readers of its own yet) confirms it."""
        state = self._started(tenant_id)
        channel = self._session.get(ReportingChannel, channel_id)
        if channel is None or channel.tenant_id != tenant_id:
            raise NotFound("channel", channel_id)
        if channel.is_default:
            raise InvalidInput("channel", "the default channel reaches the whole reader list")
        wanted = tuple(sorted(set(members), key=str))
        if not wanted:
            raise InvalidInput("members", "choose at least one reader")
        if any(state.reader(m) is None for m in wanted):
            raise InvalidInput("members", "every reader of a channel must be on the reader list")
        current = state.channel(channel_id)
        if current is not None and current.members == wanted:
            raise Conflict("nothing to change")
        return self._new_change(tenant_id, CHANNEL, actor, via, channel_id=channel_id, members=wanted)

    def channel_members(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> tuple[uuid.UUID, ...] | None:
        """The readers the verified list names for a channel (None: the channel has no entry,
        or the list is not started or does not verify)."""
        try:
            state = self.state(tenant_id)
        except ReaderListTampered:
            return None
        entry = state.channel(channel_id) if state is not None else None
        return entry.members if entry is not None else None

    def channel_name(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> str:
        channel = self._session.get(ReportingChannel, channel_id)
        return channel.name if channel is not None and channel.tenant_id == tenant_id else str(channel_id)

    def propose_escrow(self, tenant_id: uuid.UUID, escrow_key_id: uuid.UUID, actor: Actor, via: str) -> ReaderChange:
        self._started(tenant_id)
        escrow = self._escrow_reader(tenant_id, escrow_key_id)
        return self._new_change(tenant_id, ESCROW, actor, via, escrow_key_id=escrow_key_id,
                                keys=(escrow.box_key, escrow.sign_key, escrow.self_signature))

    def notice_new_keys(self, user_id: uuid.UUID) -> list[ReaderChange]:
        """After a user got a new key pair (their first own password after a reset): propose the
        new key in every list that holds their old one. Idempotent."""
        user = self._session.get(User, user_id)
        if user is None or not self._bound(user):
            return []
        tenants = self._session.execute(sa.select(Membership.tenant_id).where(
            Membership.user_id == user_id, Membership.role == Role.HANDLER.value)).scalars().all()
        proposed = []
        for tenant_id in sorted(set(tenants), key=str):
            try:
                state = self.state(tenant_id)
            except ReaderListTampered:
                continue
            reader = state.reader(user_id) if state else None
            if reader is None or reader.box_key == user.public_key:
                continue
            waiting = self._session.execute(sa.select(ReaderChange.id).where(
                ReaderChange.tenant_id == tenant_id, ReaderChange.user_id == user_id, ReaderChange.kind == REKEY,
                ReaderChange.state == PENDING, ReaderChange.box_key == user.public_key)).first()
            if waiting is None:
                proposed.append(self._new_change(tenant_id, REKEY, Actor("system"), "system", user_id=user_id,
                                                 keys=self._reader_of(user)))
        return proposed

    # --- deciding -----------------------------------------------------------------------
    def confirm(self, tenant_id: uuid.UUID, change_id: uuid.UUID, signer: Signer, actor: Actor) -> int:
        """A reader (or the escrow holder) confirms a pending change: the new list is signed with
        their key and takes effect now. Returns the new entry's number."""
        row = self._pending(tenant_id, change_id)
        if row.kind == START:
            raise InvalidInput("change", "the first reader is confirmed by an administrator with their fingerprint")
        state = self._started(tenant_id)
        self._check_signer(tenant_id, state, signer)
        change = self._as_change(tenant_id, row, state)
        if signer.kind == USER and change.reader is not None and change.reader.user_id == signer.id:
            raise AccessDenied("confirm your own key; another reader does")
        if signer.kind == USER and change.channel is not None \
                and channel_signer_refused(state, change.channel, signer.id) is not None:
            raise AccessDenied("change the readers of a channel you do not read; a reader of it does")
        try:
            readers, escrow, channels = apply_full(state.readers, state.escrow, state.channels, change)
        except ValueError:
            self._decide(row, SUPERSEDED, actor)
            raise Conflict("this change no longer applies to the list") from None
        body = encode_body(tenant_id, state.seq + 1, state.head, self._clock(), change, readers, escrow, channels)
        seq = self._append(tenant_id, state.seq + 1, body, signer.kind, signer.id,
                           sign(signer.seed, ENTRY_CONTEXT, body), row.id, actor)
        if row.kind == ESCROW:
            self._retire_other_escrow_keys(tenant_id, row.escrow_key_id)
        self._decide(row, CONFIRMED, actor, seq)
        return seq

    def confirm_start(self, tenant_id: uuid.UUID, change_id: uuid.UUID, witness: StaffPrincipal,
                      typed_fingerprint: str) -> int:
        """The compliance lead (an administrator of the tenant) starts the list: only when the
        fingerprint they type is the one the first reader read out from their own page."""
        if not witness.has(tenant_id, Role.ADMIN):
            raise AccessDenied("confirm the first reader of an organisation you do not administer")
        row = self._pending(tenant_id, change_id)
        if row.kind != START or row.start_body is None or row.start_signature is None:
            raise InvalidInput("change", "is not a request to start the list")
        if self._has_entries(tenant_id):
            self._decide(row, SUPERSEDED, witness.actor)
            raise Conflict("the reader list is already started")
        assert row.user_id is not None and row.box_key is not None and row.sign_key is not None
        if not fingerprint_matches(key_fingerprint(row.box_key, row.sign_key), typed_fingerprint):
            raise InvalidInput("fingerprint", "does not match the key of this request")
        if witness.user_id == row.user_id and (witness.private_key is None
                                               or public_key_of(witness.private_key) != row.box_key):
            raise InvalidInput("fingerprint", "is not the key you are signed in with")
        user = self._handler(tenant_id, row.user_id)
        if (user.public_key, user.sign_key) != (row.box_key, row.sign_key) or not self._bound(user):
            raise KeyBindingInvalid("user", user.id)
        if not verify(row.sign_key, ENTRY_CONTEXT, row.start_body, row.start_signature):
            raise KeyBindingInvalid("reader list request", row.id)
        seq = self._append(tenant_id, 1, row.start_body, USER, row.user_id, row.start_signature, row.id,
                           witness.actor, witness=witness.user_id)
        self._decide(row, CONFIRMED, witness.actor, seq)
        for other in self.pending(tenant_id):
            if other.kind == START:
                self._decide(other, SUPERSEDED, witness.actor)
        return seq

    def decline(self, tenant_id: uuid.UUID, change_id: uuid.UUID, principal: StaffPrincipal) -> None:
        """A reader rejects a pending change, or an administrator (or its proposer) withdraws it."""
        row = self._pending(tenant_id, change_id)
        state = self.checked_state(tenant_id)
        if state is not None and state.reader(principal.user_id) is not None:
            self._decide(row, REJECTED, principal.actor)
        elif principal.has(tenant_id, Role.ADMIN) or row.proposed_by == principal.user_id:
            self._decide(row, WITHDRAWN, principal.actor)
        else:
            raise AccessDenied("decide on a change to a reader list you are not on")

    def withdraw_cli(self, tenant_id: uuid.UUID, change_id: uuid.UUID, actor: Actor) -> None:
        """The command line withdraws what the command line proposed (nothing else)."""
        row = self._pending(tenant_id, change_id)
        if row.proposed_via != "cli":
            raise AccessDenied("withdraw a change proposed in the web app; its proposer or a reader does")
        self._decide(row, WITHDRAWN, actor)

    # --- internals ----------------------------------------------------------------------
    def _append(self, tenant_id: uuid.UUID, seq: int, body: bytes, signer_kind: str, signer_id: uuid.UUID,
                signature: bytes, change_id: uuid.UUID, actor: Actor, witness: uuid.UUID | None = None) -> int:
        record = EntryRecord(seq, body, signer_kind, signer_id, signature, b"")
        mac = self._binding.tag("reader-entry", *mac_parts(tenant_id, record))
        try:
            with self._session.begin_nested():
                self._session.add(ReaderListEntry(
                    tenant_id=tenant_id, seq=seq, body=body, signer_kind=signer_kind, signer_id=signer_id,
                    signature=signature, mac=mac, witness_user_id=witness, change_id=change_id,
                    created_at=self._clock()))
        except sa.exc.IntegrityError:
            raise Conflict("the reader list changed meanwhile; look at it again") from None
        self.state(tenant_id)  # the list as it is now must verify, or nothing is committed
        self._logbook.record("readers.changed", actor, tenant_id=tenant_id, object_type="reader_change",
                             object_id=change_id, detail=f"entry={seq} signer={signer_kind} head={entry_hash(record)[:16]}")
        return seq

    def _new_change(self, tenant_id: uuid.UUID, kind: str, actor: Actor, via: str, *,
                    user_id: uuid.UUID | None = None, escrow_key_id: uuid.UUID | None = None,
                    keys: Reader | tuple[bytes, bytes, bytes] | None = None, receives: bool | None = None,
                    channel_id: uuid.UUID | None = None, members: tuple[uuid.UUID, ...] | None = None
                    ) -> ReaderChange:
        box, signer, signature = ((keys.box_key, keys.sign_key, keys.self_signature) if isinstance(keys, Reader)
                                  else keys if keys is not None else (None, None, None))
        row = ReaderChange(id=uuid.uuid4(), tenant_id=tenant_id, kind=kind, user_id=user_id,
                           escrow_key_id=escrow_key_id, receives=receives, box_key=box, sign_key=signer,
                           key_signature=signature, proposed_by=actor.user_id if actor.kind == "user" else None,
                           proposed_via=via, created_at=self._clock(), state=PENDING, channel_id=channel_id,
                           members=json.dumps([str(m) for m in members]) if members is not None else None)
        self._session.add(row)
        self._session.flush()
        self._notice(row, "proposed")
        self._logbook.record("readers.proposed", actor, tenant_id=tenant_id, object_type="reader_change",
                             object_id=row.id, detail=f"kind={kind}" + (f" user={user_id}" if user_id else ""))
        return row

    def _decide(self, row: ReaderChange, state: str, actor: Actor, seq: int | None = None) -> None:
        row.state, row.decided_by, row.decided_at, row.seq = state, actor.user_id, self._clock(), seq
        self._session.flush()
        self._notice(row, state)
        if state != CONFIRMED:
            self._logbook.record(f"readers.{state}", actor, tenant_id=row.tenant_id, object_type="reader_change",
                                 object_id=row.id, detail=f"kind={row.kind}")

    def _notice(self, row: ReaderChange, event: str) -> None:
        self._session.add(ReaderNotice(id=uuid.uuid4(), tenant_id=row.tenant_id, change_id=row.id, event=event,
                                       created_at=self._clock()))

    def _as_change(self, tenant_id: uuid.UUID, row: ReaderChange, state: ReaderState) -> Change:
        """The change a pending row stands for, re-checked now: the keys confirmed are the ones
        recorded when it was proposed, and they must still be the user's (or escrow row's), bound."""
        if row.kind in (ADD, REKEY):
            assert row.user_id is not None
            user = self._handler(tenant_id, row.user_id)
            current = self._reader_of(user)
            if (current.box_key, current.sign_key) != (row.box_key, row.sign_key):
                self._decide(row, SUPERSEDED, Actor("system"))
                raise Conflict("this user's key changed since the change was proposed")
            receives = bool(row.receives) if row.kind == ADD and row.receives is not None else True
            return Change(row.kind, reader=Reader(user.id, current.box_key, current.sign_key, current.self_signature,
                                                  receives))
        if row.kind == ESCROW:
            assert row.escrow_key_id is not None
            escrow = self._escrow_reader(tenant_id, row.escrow_key_id)
            if (escrow.box_key, escrow.sign_key) != (row.box_key, row.sign_key):
                raise KeyBindingInvalid("escrow", row.escrow_key_id)
            return Change(ESCROW, escrow=escrow)
        if row.kind == CHANNEL:
            assert row.channel_id is not None and row.members is not None
            return Change(CHANNEL, channel=ChannelReaders(row.channel_id, change_members(row)))
        return Change(row.kind, user_id=row.user_id, receives=row.receives if row.kind == RECEIVES else None)

    def _check_signer(self, tenant_id: uuid.UUID, state: ReaderState, signer: Signer) -> None:
        if signer.kind == USER:
            reader = state.reader(signer.id)
            if reader is None:
                raise NotAReader(signer.id)
            if reader.sign_key != signer.sign_public:
                raise NotAReader(signer.id, "key-changed")
        elif not any(e.escrow_id == signer.id and e.sign_key == signer.sign_public for e in state.escrow):
            raise AccessDenied("sign with an escrow key that is not on this organisation's reader list")

    def _reader_of(self, user: User, session_private: bytes | None = None) -> Reader:
        """A user's current keys as a reader item, refused unless bound (and, given the key in
        the user's session, unless the stored key is that one)."""
        if not self._bound(user):
            raise KeyBindingInvalid("user", user.id)
        if session_private is not None and public_key_of(session_private) != user.public_key:
            raise KeyBindingInvalid("user", user.id)
        assert user.public_key is not None and user.sign_key is not None and user.key_signature is not None
        return Reader(user.id, user.public_key, user.sign_key, user.key_signature)

    def _bound(self, user: User) -> bool:
        if user.public_key is None or user.sign_key is None or user.key_signature is None:
            return False
        statement = user_keys_statement(user.id, user.public_key, user.sign_key)
        return (self._binding.check(user.key_mac, "user-keys", statement)
                and user_keys_signed(user.id, user.public_key, user.sign_key, user.key_signature))

    def _escrow_reader(self, tenant_id: uuid.UUID, escrow_key_id: uuid.UUID) -> EscrowReader:
        key = self._session.get(EscrowKey, escrow_key_id)
        tenant = self._session.get(Tenant, tenant_id)
        if key is None or tenant is None or key.tenant_id != tenant_id:
            raise NotFound("escrow key", escrow_key_id)
        if key.origin != "offline" or key.sign_key is None or key.self_signature is None:
            raise InvalidInput("escrow", "was made on the server before 0.3; make a new one offline")
        if not (self._binding.check(key.mac, "escrow-key", tenant_id.bytes, key.public_key, key.sign_key)
                and escrow_signature_valid(tenant.slug, key.public_key, key.sign_key, key.self_signature)):
            raise KeyBindingInvalid("escrow", key.id)
        return EscrowReader(key.id, tenant.slug, key.public_key, key.sign_key, key.self_signature)

    def _retire_other_escrow_keys(self, tenant_id: uuid.UUID, keep: uuid.UUID | None) -> None:
        for key in self._session.execute(sa.select(EscrowKey).where(
                EscrowKey.tenant_id == tenant_id, EscrowKey.retired_at.is_(None), EscrowKey.id != keep)).scalars():
            key.retired_at = self._clock()

    def _handler(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
        user = self._session.get(User, user_id)
        if user is None or user_id not in self._active_handlers(tenant_id, [user_id]):
            raise NotFound("handler", user_id)
        return user

    def _usable(self, tenant_id: uuid.UUID, readers: Sequence[Reader]) -> set[uuid.UUID]:
        """Readers who are active handlers here and still hold the key the list pins (after an
        administrator's reset the user has a new key: nothing goes to the old one, which is
        lost, until a reader confirms the new one). The users table only ever narrows this."""
        active = self._active_handlers(tenant_id, [r.user_id for r in readers])
        if not active:
            return set()
        current = dict(self._session.execute(sa.select(User.id, User.public_key).where(
            User.id.in_(list(active)))).all())
        return {r.user_id for r in readers if r.user_id in active and current.get(r.user_id) == r.box_key}

    def _active_handlers(self, tenant_id: uuid.UUID, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not user_ids:
            return set()
        return set(self._session.execute(sa.select(Membership.user_id).join(User, User.id == Membership.user_id).where(
            Membership.tenant_id == tenant_id, Membership.role == Role.HANDLER.value,
            Membership.user_id.in_(list(user_ids)), User.disabled_at.is_(None))).scalars())

    def _started(self, tenant_id: uuid.UUID) -> ReaderState:
        state = self.checked_state(tenant_id)
        if state is None:
            raise Conflict("the reader list is not started yet: a handler starts it on their Readers page")
        return state

    def _pending(self, tenant_id: uuid.UUID, change_id: uuid.UUID) -> ReaderChange:
        row = self.change(tenant_id, change_id)
        if row.state != PENDING:
            raise Conflict(f"this change was already {row.state}")
        return row

    def _has_entries(self, tenant_id: uuid.UUID) -> bool:
        return self._session.execute(sa.select(ReaderListEntry.seq).where(
            ReaderListEntry.tenant_id == tenant_id).limit(1)).first() is not None


def change_members(row: ReaderChange) -> tuple[uuid.UUID, ...]:
    """The readers a channel change names (what the confirming reader signs, not what a row says now)."""
    try:
        return tuple(sorted({uuid.UUID(m) for m in json.loads(row.members or "[]")}, key=str))
    except (ValueError, TypeError):
        raise InvalidInput("members", "cannot be read") from None


def _record(row: ReaderListEntry) -> EntryRecord:
    return EntryRecord(row.seq, bytes(row.body), row.signer_kind, row.signer_id, bytes(row.signature), bytes(row.mac))
