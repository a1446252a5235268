"""The reader list's chain, without a database: what verifies, and every way to forge it that
must not (a DBA without the master key, IT with it, a reader confirming their own key)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass

import pytest

from appliance.crypto.binding import KeyBinding
from appliance.crypto.escrow_file import ESCROW_KEY_CONTEXT, escrow_statement
from appliance.crypto.sealing import new_private_key, public_key_of
from appliance.crypto.signing import (
    USER_KEYS_CONTEXT,
    sign,
    signing_public,
    signing_seed,
    user_keys_statement,
)
from appliance.errors import ReaderListTampered
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
    apply_change,
    apply_full,
    encode_body,
    entry_hash,
    mac_parts,
    verify_chain,
)

TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")
AT = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    private: bytes

    @property
    def seed(self) -> bytes:
        return signing_seed(self.private)

    def reader(self, receives: bool = True) -> Reader:
        box, signer = public_key_of(self.private), signing_public(self.seed)
        statement = user_keys_statement(self.user_id, box, signer)
        return Reader(self.user_id, box, signer, sign(self.seed, USER_KEYS_CONTEXT, statement), receives)


def person() -> Person:
    return Person(uuid.uuid4(), new_private_key())


def escrow_reader(slug: str = "alpha") -> tuple[EscrowReader, bytes]:
    private = new_private_key()
    seed = signing_seed(private)
    box, signer = public_key_of(private), signing_public(seed)
    return EscrowReader(uuid.uuid4(), slug, box, signer,
                        sign(seed, ESCROW_KEY_CONTEXT, escrow_statement(slug, box, signer))), seed


class Chain:
    """Builds a chain the way the service does (and lets a test break it)."""

    def __init__(self, binding: KeyBinding) -> None:
        self.binding = binding
        self.records: list[EntryRecord] = []
        self.state: ReaderState | None = None

    def append(self, change: Change, signer_kind: str, signer_id: uuid.UUID, seed: bytes,
               binding: KeyBinding | None = None) -> EntryRecord:
        readers = self.state.readers if self.state else ()
        escrow = self.state.escrow if self.state else ()
        channels = self.state.channels if self.state else ()
        new_readers, new_escrow, new_channels = apply_full(readers, escrow, channels, change)
        seq = len(self.records) + 1
        body = encode_body(TENANT, seq, self.state.head if self.state else GENESIS_PREV, AT, change, new_readers,
                           new_escrow, new_channels)
        record = EntryRecord(seq, body, signer_kind, signer_id, sign(seed, ENTRY_CONTEXT, body), b"")
        record = dataclasses.replace(record, mac=(binding or self.binding).tag("reader-entry",
                                                                               *mac_parts(TENANT, record)))
        self.records.append(record)
        self.state = ReaderState(TENANT, seq, entry_hash(record), new_readers, new_escrow, new_channels)
        return record


@pytest.fixture
def binding() -> KeyBinding:
    return KeyBinding(secrets.token_bytes(32))


@pytest.fixture
def anna() -> Person:
    return person()


@pytest.fixture
def chain(binding: KeyBinding, anna: Person) -> Chain:
    made = Chain(binding)
    made.append(Change(START, reader=anna.reader()), USER, anna.user_id, anna.seed)
    return made


def fails_at(binding: KeyBinding, records: list[EntryRecord]) -> int:
    with pytest.raises(ReaderListTampered) as caught:
        verify_chain(TENANT, records, binding)
    return caught.value.seq


def test_a_list_started_and_changed_by_its_readers_verifies(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    bo, escrow = person(), escrow_reader()
    chain.append(Change(ADD, reader=bo.reader(receives=False)), USER, anna.user_id, anna.seed)
    chain.append(Change(ESCROW, escrow=escrow[0]), USER, bo.user_id, bo.seed)
    chain.append(Change(RECEIVES, user_id=bo.user_id, receives=True), ESCROW_SIGNER, escrow[0].escrow_id, escrow[1])
    chain.append(Change(REMOVE, user_id=anna.user_id), USER, bo.user_id, bo.seed)
    state = verify_chain(TENANT, chain.records, binding)
    assert state is not None and state.seq == 5
    assert [r.user_id for r in state.readers] == [bo.user_id] and state.readers[0].receives
    assert state.escrow == (escrow[0],)
    assert verify_chain(TENANT, [], binding) is None


def test_a_dba_without_the_master_key_cannot_add_an_entry(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    """The planted entry is even signed by a real reader: only the MAC is missing."""
    mallory = person()
    chain.append(Change(ADD, reader=mallory.reader()), USER, anna.user_id, anna.seed,
                 binding=KeyBinding(secrets.token_bytes(32)))
    assert fails_at(binding, chain.records) == 2


def test_it_with_the_master_key_cannot_sign_for_a_reader(chain: Chain, binding: KeyBinding) -> None:
    mallory = person()
    chain.append(Change(ADD, reader=mallory.reader()), USER, mallory.user_id, mallory.seed)
    assert fails_at(binding, chain.records) == 2


def test_a_signature_by_a_reader_under_another_name_fails(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    mallory = person()
    chain.append(Change(ADD, reader=mallory.reader()), USER, anna.user_id, mallory.seed)
    assert fails_at(binding, chain.records) == 2


def test_a_reader_cannot_confirm_their_own_new_key(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    again = Person(anna.user_id, new_private_key())
    chain.append(Change(REKEY, reader=again.reader()), USER, anna.user_id, anna.seed)
    assert fails_at(binding, chain.records) == 2


def test_a_key_its_owner_did_not_sign_cannot_be_on_the_list(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    victim, mallory = person(), person()
    planted = dataclasses.replace(victim.reader(), box_key=public_key_of(mallory.private))
    chain.append(Change(ADD, reader=planted), USER, anna.user_id, anna.seed)
    assert fails_at(binding, chain.records) == 2


def test_an_entry_carries_no_more_than_its_change(binding: KeyBinding, chain: Chain, anna: Person) -> None:
    """A body that says 'add Bo' but also lists Mallory, signed and MACed: refused."""
    bo, mallory = person(), person()
    readers, escrow = apply_change(chain.state.readers, (), Change(ADD, reader=bo.reader()))  # type: ignore[union-attr]
    readers = (*readers, mallory.reader())
    body = encode_body(TENANT, 2, chain.state.head, AT, Change(ADD, reader=bo.reader()), readers, escrow)  # type: ignore[union-attr]
    record = EntryRecord(2, body, USER, anna.user_id, sign(anna.seed, ENTRY_CONTEXT, body), b"")
    record = dataclasses.replace(record, mac=binding.tag("reader-entry", *mac_parts(TENANT, record)))
    assert fails_at(binding, [*chain.records, record]) == 2


@pytest.mark.parametrize("field", ["body", "signature", "signer_id", "seq"])
def test_any_changed_field_of_a_stored_entry_is_detected(chain: Chain, binding: KeyBinding, anna: Person,
                                                         field: str) -> None:
    chain.append(Change(ADD, reader=person().reader()), USER, anna.user_id, anna.seed)
    record = chain.records[1]
    changed = {
        "body": dataclasses.replace(record, body=record.body.replace(b'"receives":true', b'"receives":false', 1)),
        "signature": dataclasses.replace(record, signature=bytes(64)),
        "signer_id": dataclasses.replace(record, signer_id=uuid.uuid4()),
        "seq": dataclasses.replace(record, seq=3),
    }[field]
    assert fails_at(binding, [chain.records[0], changed]) == 2


def test_a_dropped_or_reordered_entry_is_detected(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    bo, cleo = person(), person()
    chain.append(Change(ADD, reader=bo.reader()), USER, anna.user_id, anna.seed)
    chain.append(Change(ADD, reader=cleo.reader()), USER, bo.user_id, bo.seed)
    first, second, third = chain.records
    assert fails_at(binding, [first, third]) == 2
    assert fails_at(binding, [second, first, third]) == 1
    # Dropping the newest entries gives an older list that verifies (a rollback): documented in
    # README, "Who can read a report"; the logbook and the mails record every confirmed change.
    assert verify_chain(TENANT, [first, second], binding) is not None


def test_the_first_entry_must_be_signed_by_its_only_reader(binding: KeyBinding) -> None:
    anna, mallory = person(), person()
    made = Chain(binding)
    made.append(Change(START, reader=anna.reader()), USER, anna.user_id, mallory.seed)
    assert fails_at(binding, made.records) == 1
    made = Chain(binding)
    made.append(Change(START, reader=anna.reader()), USER, mallory.user_id, mallory.seed)
    assert fails_at(binding, made.records) == 1


def test_an_entry_of_another_tenant_does_not_verify_here(chain: Chain, binding: KeyBinding) -> None:
    with pytest.raises(ReaderListTampered):
        verify_chain(uuid.uuid4(), chain.records, binding)


def test_an_escrow_key_not_signed_by_its_holder_is_refused(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    escrow, _seed = escrow_reader()
    forged = dataclasses.replace(escrow, box_key=public_key_of(new_private_key()))
    chain.append(Change(ESCROW, escrow=forged), USER, anna.user_id, anna.seed)
    assert fails_at(binding, chain.records) == 2


def test_changes_that_cannot_apply_are_refused_when_built(chain: Chain, anna: Person) -> None:
    assert chain.state is not None
    with pytest.raises(ValueError, match="at least one reader"):
        apply_change(chain.state.readers, (), Change(REMOVE, user_id=anna.user_id))
    with pytest.raises(ValueError, match="already a reader"):
        apply_change(chain.state.readers, (), Change(ADD, reader=anna.reader()))
    with pytest.raises(ValueError, match="not a reader"):
        apply_change(chain.state.readers, (), Change(RECEIVES, user_id=uuid.uuid4(), receives=False))


def test_the_body_is_canonical_json_naming_its_place(chain: Chain) -> None:
    document = json.loads(chain.records[0].body)
    assert document["tenant"] == str(TENANT) and document["seq"] == 1 and document["prev"] == GENESIS_PREV
    assert chain.records[0].body == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


# --- a reporting channel's readers (issue 17) ---------------------------------------------------
CHANNEL_ID = uuid.UUID("00000000-0000-4000-8000-00000000c4a1")


def test_a_channel_names_some_readers_of_the_list(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    bo = person()
    chain.append(Change(ADD, reader=bo.reader()), USER, anna.user_id, anna.seed)
    chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, (bo.user_id,))), USER, anna.user_id, anna.seed)
    state = verify_chain(TENANT, chain.records, binding)
    assert state is not None and state.channel(CHANNEL_ID) == ChannelReaders(CHANNEL_ID, (bo.user_id,))
    assert [r.user_id for r in state.receiving_in(CHANNEL_ID)] == [bo.user_id]
    assert {r.user_id for r in state.receiving_in(None)} == {anna.user_id, bo.user_id}
    assert {r.user_id for r in state.receiving_in(uuid.uuid4())} == {anna.user_id, bo.user_id}


def test_only_a_reader_of_a_channel_changes_who_reads_it(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    bo = person()
    chain.append(Change(ADD, reader=bo.reader()), USER, anna.user_id, anna.seed)
    chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, (bo.user_id,))), USER, anna.user_id, anna.seed)
    both = tuple(sorted((anna.user_id, bo.user_id), key=str))
    chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, both)), USER, anna.user_id, anna.seed)
    assert fails_at(binding, chain.records) == 4  # anna is on the list, not on the channel


def test_a_channel_names_only_readers_of_the_list(chain: Chain, anna: Person) -> None:
    stranger = person()
    with pytest.raises(ValueError, match="readers of the list"):
        chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, (stranger.user_id,))), USER, anna.user_id,
                     anna.seed)
    with pytest.raises(ValueError, match="at least one"):
        chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, ())), USER, anna.user_id, anna.seed)


def test_an_entry_whose_channel_readers_were_widened_fails(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    bo = person()
    chain.append(Change(ADD, reader=bo.reader()), USER, anna.user_id, anna.seed)
    record = chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, (bo.user_id,))), USER, anna.user_id,
                          anna.seed)
    document = json.loads(record.body)
    document["channels"][0]["members"] = sorted([str(anna.user_id), str(bo.user_id)])
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    forged = dataclasses.replace(record, body=body, signature=sign(anna.seed, ENTRY_CONTEXT, body))
    forged = dataclasses.replace(forged, mac=binding.tag("reader-entry", *mac_parts(TENANT, forged)))
    assert fails_at(binding, [*chain.records[:-1], forged]) == 3


def test_removing_a_reader_takes_them_out_of_every_channel(chain: Chain, binding: KeyBinding, anna: Person) -> None:
    bo, cy = person(), person()
    chain.append(Change(ADD, reader=bo.reader()), USER, anna.user_id, anna.seed)
    chain.append(Change(ADD, reader=cy.reader()), USER, anna.user_id, anna.seed)
    chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, (bo.user_id,))), USER, anna.user_id, anna.seed)
    assert chain.state is not None
    with pytest.raises(ValueError, match="only reader of a channel"):
        apply_full(chain.state.readers, chain.state.escrow, chain.state.channels, Change(REMOVE, user_id=bo.user_id))
    both = tuple(sorted((bo.user_id, cy.user_id), key=str))
    chain.append(Change(CHANNEL, channel=ChannelReaders(CHANNEL_ID, both)), USER, bo.user_id, bo.seed)
    chain.append(Change(REMOVE, user_id=bo.user_id), USER, anna.user_id, anna.seed)
    state = verify_chain(TENANT, chain.records, binding)
    assert state is not None and state.channel(CHANNEL_ID) == ChannelReaders(CHANNEL_ID, (cy.user_id,))
