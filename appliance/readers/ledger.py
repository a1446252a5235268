"""The reader list of one tenant as a chain of signed entries (pure: no database here).

Each entry states the whole list after one change: the readers (staff users, each with
their X25519 key that case key pairs are sealed to, their Ed25519 key, their own signature over
both, and whether new reports are sealed to them) and the escrow key. Entry n is signed by
a reader or the escrow key of entry n-1, names the hash of entry n-1, and carries a MAC
under the master key (``KeyBinding``). The first entry is signed by its only reader and was
confirmed by the compliance lead comparing that reader's fingerprint (``witness``).

So: a database administrator (no master key) cannot add, change or drop an entry without
the MAC failing; IT (with the master key) can make MACs but cannot sign as a reader; and
nobody can put a key on the list that its owner did not sign. ``verify_chain`` checks all
of it and recomputes each entry's list from the previous one and its change, so an entry
can never carry more than the change it names.

A list may also name, per reporting channel, which of its readers receive that channel's
reports (a ``channel`` change). Those readers are always readers of the list, so a channel can
only narrow who reads, never widen it; an existing reader of the channel (or, for a channel
that has no entry yet, any reader of the list, all of whom receive its reports until then)
signs the change, and a reader never signs their own way into a channel. A channel without an
entry reaches the list's receiving readers, as the tenant's portal did before channels.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from appliance.crypto.binding import KeyBinding
from appliance.crypto.escrow_file import escrow_signature_valid
from appliance.crypto.sealing import fingerprint
from appliance.crypto.signing import key_fingerprint, user_keys_signed, verify
from appliance.errors import ReaderListTampered

FORMAT = "appliance-readers/v1"
ENTRY_CONTEXT = b"appliance/readers/v1"
GENESIS_PREV = "0" * 64
START, ADD, REMOVE, RECEIVES, REKEY, ESCROW = "start", "add", "remove", "receives", "rekey", "escrow"
CHANNEL = "channel"
KINDS = (START, ADD, REMOVE, RECEIVES, REKEY, ESCROW, CHANNEL)
USER, ESCROW_SIGNER = "user", "escrow"


@dataclass(frozen=True)
class Reader:
    user_id: uuid.UUID
    box_key: bytes
    sign_key: bytes
    self_signature: bytes
    receives: bool = True

    @property
    def box_fingerprint(self) -> bytes:
        """What a sealed copy to this reader records (``CasePrivateKeySeal.recipient_fingerprint``)."""
        return fingerprint(self.box_key)

    @property
    def key_fingerprint(self) -> bytes:
        return key_fingerprint(self.box_key, self.sign_key)


@dataclass(frozen=True)
class EscrowReader:
    escrow_id: uuid.UUID
    organisation: str
    box_key: bytes
    sign_key: bytes
    self_signature: bytes

    @property
    def box_fingerprint(self) -> bytes:
        return fingerprint(self.box_key)

    @property
    def key_fingerprint(self) -> bytes:
        return key_fingerprint(self.box_key, self.sign_key)


@dataclass(frozen=True)
class ChannelReaders:
    """The readers of the list who receive one reporting channel's reports (user ids, sorted)."""

    channel_id: uuid.UUID
    members: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class Change:
    """One change to the list: ``reader`` for start/add/rekey, ``user_id`` (+ ``receives``) for
    remove/receives, ``escrow`` for escrow, ``channel`` for channel."""

    kind: str
    user_id: uuid.UUID | None = None
    reader: Reader | None = None
    receives: bool | None = None
    escrow: EscrowReader | None = None
    channel: ChannelReaders | None = None


@dataclass(frozen=True)
class ReaderState:
    tenant_id: uuid.UUID
    seq: int
    head: str  # hash of the newest entry, hex
    readers: tuple[Reader, ...]
    escrow: tuple[EscrowReader, ...]
    channels: tuple[ChannelReaders, ...] = ()

    def reader(self, user_id: uuid.UUID) -> Reader | None:
        return next((r for r in self.readers if r.user_id == user_id), None)

    def receiving(self) -> tuple[Reader, ...]:
        return tuple(r for r in self.readers if r.receives)

    def channel(self, channel_id: uuid.UUID) -> ChannelReaders | None:
        return next((c for c in self.channels if c.channel_id == channel_id), None)

    def receiving_in(self, channel_id: uuid.UUID | None) -> tuple[Reader, ...]:
        """Who receives a channel's new reports: the readers its entry names, or (no entry,
        or no channel) the list's receiving readers."""
        entry = self.channel(channel_id) if channel_id is not None else None
        if entry is None:
            return self.receiving()
        return tuple(r for r in self.readers if r.user_id in entry.members)


@dataclass(frozen=True)
class EntryRecord:
    """An entry as stored: the signed body, who signed it, and the MAC over all of it."""

    seq: int
    body: bytes
    signer_kind: str
    signer_id: uuid.UUID
    signature: bytes
    mac: bytes


def entry_hash(record: EntryRecord) -> str:
    return hashlib.sha256(record.body + b"\x1f" + record.signer_kind.encode() + record.signer_id.bytes
                          + record.signature).hexdigest()


def mac_parts(tenant_id: uuid.UUID, record: EntryRecord) -> tuple[bytes, ...]:
    return (tenant_id.bytes, str(record.seq).encode(), record.body, record.signer_kind.encode(),
            record.signer_id.bytes, record.signature)


def apply_change(readers: tuple[Reader, ...], escrow: tuple[EscrowReader, ...], change: Change
                 ) -> tuple[tuple[Reader, ...], tuple[EscrowReader, ...]]:
    """The list after ``change``; ValueError names what makes the change impossible."""
    by_user = {r.user_id: r for r in readers}
    if change.kind in (START, ADD):
        assert change.reader is not None
        if change.reader.user_id in by_user:
            raise ValueError("already a reader")
        by_user[change.reader.user_id] = change.reader
    elif change.kind == REKEY:
        assert change.reader is not None
        old = by_user.get(change.reader.user_id)
        if old is None:
            raise ValueError("not a reader")
        by_user[old.user_id] = replace(change.reader, receives=old.receives)
    elif change.kind == REMOVE:
        if change.user_id not in by_user:
            raise ValueError("not a reader")
        del by_user[change.user_id]
        if not by_user:
            raise ValueError("the list must keep at least one reader")
    elif change.kind == RECEIVES:
        assert change.user_id is not None and change.receives is not None
        old = by_user.get(change.user_id)
        if old is None:
            raise ValueError("not a reader")
        by_user[old.user_id] = replace(old, receives=change.receives)
    elif change.kind == ESCROW:
        assert change.escrow is not None
        if any(e.box_key == change.escrow.box_key for e in escrow):
            raise ValueError("already the escrow key")
        escrow = (change.escrow,)
    else:
        raise ValueError(f"unknown change {change.kind!r}")
    return tuple(sorted(by_user.values(), key=lambda r: str(r.user_id))), escrow


def apply_full(readers: tuple[Reader, ...], escrow: tuple[EscrowReader, ...],
               channels: tuple[ChannelReaders, ...], change: Change
               ) -> tuple[tuple[Reader, ...], tuple[EscrowReader, ...], tuple[ChannelReaders, ...]]:
    """``apply_change`` with the channels' readers: a channel change sets one channel's readers
    (all on the list, at least one); removing a reader takes them out of every channel, and is
    impossible while they are a channel's only reader."""
    if change.kind == CHANNEL:
        assert change.channel is not None
        on_list = {r.user_id for r in readers}
        members = tuple(sorted(set(change.channel.members), key=str))
        if not members:
            raise ValueError("a channel keeps at least one reader")
        if not set(members) <= on_list:
            raise ValueError("a channel's readers must be readers of the list")
        entry = ChannelReaders(change.channel.channel_id, members)
        if any(c == entry for c in channels):
            raise ValueError("nothing to change")
        others = tuple(c for c in channels if c.channel_id != entry.channel_id)
        return readers, escrow, tuple(sorted((*others, entry), key=lambda c: str(c.channel_id)))
    readers, escrow = apply_change(readers, escrow, change)
    if change.kind == REMOVE:
        narrowed = []
        for entry in channels:
            members = tuple(m for m in entry.members if m != change.user_id)
            if not members:
                raise ValueError("the only reader of a channel; change that channel's readers first")
            narrowed.append(ChannelReaders(entry.channel_id, members))
        channels = tuple(narrowed)
    return readers, escrow, channels


def encode_body(tenant_id: uuid.UUID, seq: int, prev: str, at: dt.datetime, change: Change,
                readers: tuple[Reader, ...], escrow: tuple[EscrowReader, ...],
                channels: tuple[ChannelReaders, ...] = ()) -> bytes:
    document: dict[str, object] = {
        "format": FORMAT, "tenant": str(tenant_id), "seq": seq, "prev": prev,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "change": _change_json(change),
        "readers": [_reader_json(r) for r in readers],
        "escrow": [_escrow_json(e) for e in escrow],
    }
    if channels:  # entries of lists without channels read exactly as before channels existed
        document["channels"] = [_channel_json(c) for c in channels]
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def decode_change(body: bytes) -> tuple[Change, dt.datetime]:
    """The change an entry names and when (for display; verification uses ``verify_chain``)."""
    document = json.loads(body)
    at = dt.datetime.strptime(document["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return _change_from(document["change"]), at


def verify_chain(tenant_id: uuid.UUID, records: Sequence[EntryRecord], binding: KeyBinding) -> ReaderState | None:
    """The verified list after the last entry (None when there is none); ReaderListTampered
    names the first entry that fails and why."""
    state: ReaderState | None = None
    for expected_seq, record in enumerate(records, start=1):
        state = _verify_entry(tenant_id, expected_seq, record, state, binding)
    return state


def _verify_entry(tenant_id: uuid.UUID, seq: int, record: EntryRecord, previous: ReaderState | None,
                  binding: KeyBinding) -> ReaderState:
    def fail(reason: str) -> ReaderListTampered:
        return ReaderListTampered(tenant_id, seq, reason)

    if record.seq != seq:
        raise fail("an entry is missing or out of order")
    if not binding.check(record.mac, "reader-entry", *mac_parts(tenant_id, record)):
        raise fail("its MAC does not verify (changed outside the appliance)")
    try:
        document = json.loads(record.body)
        change = _change_from(document["change"])
        readers = tuple(_reader_from(item) for item in document["readers"])
        escrow = tuple(_escrow_from(item) for item in document["escrow"])
        channels = tuple(_channel_from(item) for item in document.get("channels", []))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise fail("its body cannot be read") from None
    if document.get("format") != FORMAT or document.get("tenant") != str(tenant_id) or document.get("seq") != seq:
        raise fail("it names another list or position")
    if document.get("prev") != (previous.head if previous else GENESIS_PREV):
        raise fail("it does not follow the entry before it")
    for reader in readers:
        if not user_keys_signed(reader.user_id, reader.box_key, reader.sign_key, reader.self_signature):
            raise fail(f"reader {reader.user_id} did not sign their keys")
    for item in escrow:
        if not escrow_signature_valid(item.organisation, item.box_key, item.sign_key, item.self_signature):
            raise fail("the escrow key is not signed by its holder")
    signer_key: bytes | None
    if previous is None:
        if change.kind != START or change.reader is None or record.signer_kind != USER \
                or record.signer_id != change.reader.user_id:
            raise fail("the first entry must be signed by its only reader")
        signer_key = change.reader.sign_key
        first_readers, first_escrow = apply_change((), (), change)
        expected: tuple[tuple[Reader, ...], tuple[EscrowReader, ...], tuple[ChannelReaders, ...]] = (
            first_readers, first_escrow, ())
    else:
        signer_key = _signer_key(previous, record)
        if signer_key is None:
            raise fail("it is not signed by a reader or the escrow key of the list before it")
        if change.kind == START:
            raise fail("only the first entry starts a list")
        if change.reader is not None and record.signer_kind == USER and change.reader.user_id == record.signer_id:
            raise fail("a reader cannot confirm their own key")
        if change.channel is not None and record.signer_kind == USER:
            reason = channel_signer_refused(previous, change.channel, record.signer_id)
            if reason:
                raise fail(reason)
        try:
            expected = apply_full(previous.readers, previous.escrow, previous.channels, change)
        except ValueError as exc:
            raise fail(f"its change cannot apply ({exc})") from None
    if expected != (readers, escrow, channels):
        raise fail("its list is not the list before it with its change")
    if not verify(signer_key, ENTRY_CONTEXT, record.body, record.signature):
        raise fail("its signature does not verify")
    return ReaderState(tenant_id, seq, entry_hash(record), readers, escrow, channels)


def channel_signer_refused(previous: ReaderState, change: ChannelReaders, signer_id: uuid.UUID) -> str | None:
    """Why a reader may not sign this channel change (None: they may). The channel's existing
    readers decide; nobody signs themselves into a channel that already has readers."""
    current = previous.channel(change.channel_id)
    if current is None:
        return None
    if signer_id not in current.members:
        return "it is not signed by a reader of that channel"
    return None


def _signer_key(previous: ReaderState, record: EntryRecord) -> bytes | None:
    if record.signer_kind == USER:
        reader = previous.reader(record.signer_id)
        return reader.sign_key if reader else None
    if record.signer_kind == ESCROW_SIGNER:
        return next((e.sign_key for e in previous.escrow if e.escrow_id == record.signer_id), None)
    return None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not base64")
    return base64.b64decode(value, validate=True)


def _reader_json(reader: Reader) -> dict[str, object]:
    return {"user": str(reader.user_id), "box": _b64(reader.box_key), "sign": _b64(reader.sign_key),
            "self": _b64(reader.self_signature), "receives": reader.receives}


def _reader_from(item: dict[str, Any]) -> Reader:
    if not isinstance(item.get("receives"), bool):
        raise ValueError("receives")
    return Reader(uuid.UUID(item["user"]), _unb64(item["box"]), _unb64(item["sign"]), _unb64(item["self"]),
                  item["receives"])


def _escrow_json(item: EscrowReader) -> dict[str, object]:
    return {"id": str(item.escrow_id), "organisation": item.organisation, "box": _b64(item.box_key),
            "sign": _b64(item.sign_key), "self": _b64(item.self_signature)}


def _escrow_from(item: dict[str, Any]) -> EscrowReader:
    return EscrowReader(uuid.UUID(item["id"]), str(item["organisation"]), _unb64(item["box"]), _unb64(item["sign"]),
                        _unb64(item["self"]))


def _channel_json(entry: ChannelReaders) -> dict[str, object]:
    return {"channel": str(entry.channel_id), "members": [str(m) for m in entry.members]}


def _channel_from(item: dict[str, Any]) -> ChannelReaders:
    members = item["members"]
    if not isinstance(members, list):
        raise ValueError("members")
    return ChannelReaders(uuid.UUID(item["channel"]), tuple(uuid.UUID(m) for m in members))


def _change_json(change: Change) -> dict[str, object]:
    document: dict[str, object] = {"kind": change.kind}
    if change.user_id is not None:
        document["user"] = str(change.user_id)
    if change.reader is not None:
        document["reader"] = _reader_json(change.reader)
    if change.receives is not None:
        document["receives"] = change.receives
    if change.escrow is not None:
        document["escrow"] = _escrow_json(change.escrow)
    if change.channel is not None:
        document["channel"] = _channel_json(change.channel)
    return document


def _change_from(document: dict[str, Any]) -> Change:
    kind = document["kind"]
    if kind not in KINDS:
        raise ValueError("kind")
    reader = _reader_from(document["reader"]) if "reader" in document else None
    escrow = _escrow_from(document["escrow"]) if "escrow" in document else None
    user_id = uuid.UUID(document["user"]) if "user" in document else None
    channel = _channel_from(document["channel"]) if "channel" in document else None
    receives = document.get("receives")
    if receives is not None and not isinstance(receives, bool):
        raise ValueError("receives")
    needs = {START: reader, ADD: reader, REKEY: reader, ESCROW: escrow, REMOVE: user_id, RECEIVES: user_id,
             CHANNEL: channel}
    if needs[kind] is None or (kind == RECEIVES and receives is None):
        raise ValueError("incomplete change")
    return Change(kind, user_id, reader, receives, escrow, channel)
