"""What the Readers pages and `appliance readers list` show: the verified list, its escrow
key and the pending changes, with addresses and fingerprints (never a private key)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from appliance.crypto.signing import key_fingerprint, show_fingerprint
from appliance.errors import NotFound, ReaderListTampered
from appliance.readers.ledger import CHANNEL
from appliance.readers.models import ReaderChange
from appliance.readers.service import ReaderLists, change_members
from appliance.users.models import User
from appliance.users.service import UserService


@dataclass(frozen=True)
class ReaderLine:
    user_id: uuid.UUID
    email: str
    fingerprint: str
    receives: bool
    key_current: bool  # False: the user has a newer key, waiting for confirmation


@dataclass(frozen=True)
class EscrowLine:
    escrow_id: uuid.UUID
    fingerprint: str


@dataclass(frozen=True)
class PendingLine:
    change_id: uuid.UUID
    kind: str
    user_id: uuid.UUID | None
    email: str | None
    fingerprint: str | None
    receives: bool | None
    proposed_by: str | None  # an address, or None for the command line / the system
    proposed_via: str
    created_at: dt.datetime
    channel: str | None = None  # a channel change: the channel's name
    channel_id: uuid.UUID | None = None
    members: tuple[str, ...] = ()  # a channel change: the addresses of the readers it names


@dataclass(frozen=True)
class Overview:
    started: bool
    seq: int
    problem: str | None  # why the list does not verify
    readers: tuple[ReaderLine, ...]
    escrow: tuple[EscrowLine, ...]
    pending: tuple[PendingLine, ...]

    def reader(self, user_id: uuid.UUID) -> ReaderLine | None:
        return next((r for r in self.readers if r.user_id == user_id), None)


def overview(readers: ReaderLists, users: UserService, tenant_id: uuid.UUID) -> Overview:
    emails: dict[uuid.UUID, str] = {}

    def email(user_id: uuid.UUID | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in emails:
            try:
                emails[user_id] = users.email_of(users.get(user_id))
            except NotFound:
                emails[user_id] = str(user_id)
        return emails[user_id]

    problem = None
    try:
        state = readers.state(tenant_id)
    except ReaderListTampered as exc:
        state, problem = None, f"entry {exc.seq}: {exc.reason}"
    lines: list[ReaderLine] = []
    escrow: list[EscrowLine] = []
    if state is not None:
        for reader in state.readers:
            user = readers_user(users, reader.user_id)
            lines.append(ReaderLine(reader.user_id, email(reader.user_id) or "", show_fingerprint(reader.key_fingerprint),
                                    reader.receives, user is not None and user.public_key == reader.box_key))
        escrow = [EscrowLine(e.escrow_id, show_fingerprint(e.key_fingerprint)) for e in state.escrow]
    pending = tuple(_pending_line(row, email, readers) for row in readers.pending(tenant_id))
    return Overview(state is not None or problem is not None, state.seq if state else 0, problem,
                    tuple(sorted(lines, key=lambda r: r.email)), tuple(escrow), pending)


def readers_user(users: UserService, user_id: uuid.UUID) -> User | None:
    try:
        return users.get(user_id)
    except NotFound:
        return None


def _pending_line(row: ReaderChange, email: Callable[[uuid.UUID | None], str | None],
                  readers: ReaderLists) -> PendingLine:
    fingerprint = (show_fingerprint(key_fingerprint(row.box_key, row.sign_key))
                   if row.box_key is not None and row.sign_key is not None else None)
    channel: str | None = None
    members: tuple[str, ...] = ()
    if row.kind == CHANNEL and row.channel_id is not None:
        channel = readers.channel_name(row.tenant_id, row.channel_id)
        members = tuple(sorted(email(m) or str(m) for m in change_members(row)))
    return PendingLine(row.id, row.kind, row.user_id, email(row.user_id), fingerprint, row.receives,
                       email(row.proposed_by), row.proposed_via, row.created_at, channel, row.channel_id, members)
