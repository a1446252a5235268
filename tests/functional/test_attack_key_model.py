"""Issue 12, findings 1 and 2: active insiders try to make themselves readers (both databases).

- A database administrator (SQL, no master key) plants their own key as the escrow key and as
  a handler's key, edits the old recipients table and writes a reader-list entry: no report,
  new or old, is sealed to a planted key, and the appliance refuses or raises the alarm.
- IT (master key and the command line) creates a handler, proposes them, installs an escrow
  key of its own and forges a MACed entry: until a reader confirms, nothing new is sealed to
  them; every reader and administrator is mailed; the logbook shows it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.audit.models import AuditEvent
from appliance.cases.access import _context
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.cases.reporting import NewReport
from appliance.context import AppContext
from appliance.crypto.escrow_file import ESCROW_KEY_CONTEXT, escrow_statement, read_public_file, write_escrow_files
from appliance.crypto.sealing import fingerprint, new_private_key, open_sealed, public_key_of
from appliance.crypto.signing import USER_KEYS_CONTEXT, sign, signing_public, signing_seed, user_keys_statement
from appliance.errors import ChannelNotReady, DecryptionFailed, KeyBindingInvalid, NotAReader, ReaderListTampered
from appliance.notify.mailer import Mailer
from appliance.readers.ledger import (
    ADD,
    CHANNEL,
    ENTRY_CONTEXT,
    USER,
    Change,
    ChannelReaders,
    EntryRecord,
    Reader,
    apply_full,
    encode_body,
    mac_parts,
)
from appliance.readers.models import ReaderChange, ReaderListEntry
from appliance.readers.notices import ReaderNotices
from appliance.readers.service import Signer, VerifiedLists
from appliance.services import Services
from appliance.tenants.models import ChannelRecipient, EscrowKey, ReportingChannel
from appliance.users.models import User
from tests.functional.conftest import (
    STAFF_PASSWORD,
    Inbox,
    Org,
    ReaderFactory,
    ReportFactory,
    ServicesOpener,
    StaffFactory,
)
from tests.light import LIGHT_ARGON2
from tests.support import principal

KINDS = ("handler", "reporter", "escrow")


@dataclasses.dataclass(frozen=True)
class Mallory:
    """An attacker's own key pair, signed by themselves as the appliance would sign a user's."""

    private: bytes

    @property
    def box(self) -> bytes:
        return public_key_of(self.private)

    @property
    def seed(self) -> bytes:
        return signing_seed(self.private)

    @property
    def sign_public(self) -> bytes:
        return signing_public(self.seed)

    def user_signature(self, user_id: uuid.UUID) -> bytes:
        return sign(self.seed, USER_KEYS_CONTEXT, user_keys_statement(user_id, self.box, self.sign_public))

    def escrow_signature(self, slug: str) -> bytes:
        return sign(self.seed, ESCROW_KEY_CONTEXT, escrow_statement(slug, self.box, self.sign_public))


def opened_by(ctx: AppContext, private: bytes) -> list[uuid.UUID]:
    """Every case whose sealed key copy this private key opens, whatever kind the copy claims."""
    with ctx.sessions() as session:
        seals = session.execute(sa.select(CasePrivateKeySeal)).scalars().all()
    found = []
    for seal in seals:
        for kind in KINDS:
            try:
                open_sealed(private, seal.sealed, _context(seal.case_id, kind))
            except DecryptionFailed:
                continue
            found.append(seal.case_id)
    return found


def seal_fingerprints(ctx: AppContext, case_id: uuid.UUID) -> set[bytes]:
    with ctx.sessions() as session:
        return set(session.execute(sa.select(CasePrivateKeySeal.recipient_fingerprint).where(
            CasePrivateKeySeal.case_id == case_id)).scalars())


def seal_count(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(CasePrivateKeySeal)).scalar_one())


def actions(ctx: AppContext, tenant_id: uuid.UUID) -> list[str]:
    with ctx.sessions() as session:
        return list(session.execute(sa.select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id)
                                    .order_by(AuditEvent.seq)).scalars())


# --- the database administrator -----------------------------------------------------------------
def test_a_dba_who_plants_keys_reads_no_report_new_or_old(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory, make_staff: StaffFactory,
        make_reader: ReaderFactory, other_services: ServicesOpener) -> None:
    old = file_report(org_a, what="before the attack")
    second = make_reader(org_a)  # a second reader who receives new reports
    colleague = make_staff((org_a.tenant, Role.HANDLER))  # a handler who is no reader yet
    mallory = Mallory(new_private_key())
    tenant_id, handler_id = org_a.tenant.id, org_a.handler.user_id
    services.session.commit()  # (SQLite: one writer at a time)
    with ctx.engine.begin() as db:  # SQL rights, no master key: every MAC is a guess
        db.execute(sa.insert(EscrowKey.__table__).values(
            id=uuid.uuid4(), tenant_id=tenant_id, public_key=mallory.box, fingerprint=fingerprint(mallory.box),
            created_at=ctx.clock(), origin="offline", sign_key=mallory.sign_public,
            self_signature=mallory.escrow_signature("alpha"), mac=secrets.token_bytes(32)))
        db.execute(sa.update(User.__table__).where(User.__table__.c.id == handler_id).values(
            public_key=mallory.box, sign_key=mallory.sign_public, key_signature=mallory.user_signature(handler_id),
            key_mac=secrets.token_bytes(32)))
        db.execute(sa.update(User.__table__).where(User.__table__.c.id == colleague.user_id).values(
            public_key=mallory.box, sign_key=mallory.sign_public,
            key_signature=mallory.user_signature(colleague.user_id), key_mac=secrets.token_bytes(32)))
        db.execute(sa.insert(ChannelRecipient.__table__).values(tenant_id=tenant_id, user_id=colleague.user_id,
                                                                added_at=ctx.clock()))
    before = seal_count(ctx)
    with other_services() as desk:  # the handler opens the old case: nothing is added for anyone
        desk.cases.open_case(org_a.handler, old.case_id)
        desk.session.commit()
    assert seal_count(ctx) == before

    new = file_report(org_a, what="after the attack")
    assert opened_by(ctx, mallory.private) == []
    # Sealed to the reader whose stored key is untouched; the first handler's row was changed, so
    # nothing goes to them until they sign in again (which binds their real key back).
    assert seal_fingerprints(ctx, new.case_id) >= {fingerprint(public_key_of(second.private_key or b""))}
    assert fingerprint(public_key_of(org_a.handler.private_key or b"")) not in seal_fingerprints(ctx, new.case_id)
    with other_services() as desk:
        assert desk.cases.open_case(second, new.case_id).report.what == "after the attack"
        # the alarm: the planted keys are no keys of their owners', and cannot even be proposed
        assert sorted(desk.users.unbound_keys(), key=str) == sorted([handler_id, colleague.user_id], key=str)
        with pytest.raises(KeyBindingInvalid):
            desk.readers.propose_add(tenant_id, colleague.user_id, CLI, "cli")
        with pytest.raises(NotAReader):
            desk.cases.share(second, new.case_id, colleague.user_id)
        assert desk.readers.notice_new_keys(handler_id) == []


def test_a_dba_who_writes_a_list_entry_stops_new_reports_and_is_seen(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory,
        other_services: ServicesOpener) -> None:
    mallory = Mallory(new_private_key())
    state = services.readers.state(org_a.tenant.id)
    assert state is not None
    mallory_id = org_a.admin.user_id  # any user row will do; they add themselves as a reader
    reader = dataclasses.replace(state.readers[0], user_id=mallory_id, box_key=mallory.box,
                                 sign_key=mallory.sign_public, self_signature=mallory.user_signature(mallory_id))
    body = encode_body(org_a.tenant.id, 2, state.head, ctx.clock(), Change(ADD, reader=reader),
                       tuple(sorted((*state.readers, reader), key=lambda r: str(r.user_id))), ())
    signature = sign(org_a_seed(org_a), ENTRY_CONTEXT, body)  # even a real reader's signature
    services.session.commit()  # (SQLite: one writer at a time)
    with ctx.engine.begin() as db:
        db.execute(sa.insert(ReaderListEntry.__table__).values(
            tenant_id=org_a.tenant.id, seq=2, body=body, signer_kind=USER, signer_id=org_a.handler.user_id,
            signature=signature, mac=secrets.token_bytes(32), created_at=ctx.clock()))
    with other_services() as desk:
        assert desk.reporting.accepting(org_a.tenant) is False
        desk.session.commit()  # the portal's page commits: the alarm is in the logbook
    tenant_id = org_a.tenant.id
    with pytest.raises(ChannelNotReady):
        file_report(org_a, what="never stored")
    services.session.rollback()  # (the org's rows are expired now: use the id, not org_a.tenant)
    with other_services() as desk:
        with pytest.raises(ReaderListTampered):
            desk.readers.state(tenant_id)
        assert desk.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == 0
    assert "readers.tampered" in actions(ctx, tenant_id)
    assert opened_by(ctx, mallory.private) == []


def test_a_dba_who_swaps_a_case_key_pair_is_refused_before_anything_is_written(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory,
        other_services: ServicesOpener) -> None:
    receipt = file_report(org_a)
    mallory = Mallory(new_private_key())
    services.session.commit()  # (SQLite: one writer at a time)
    with ctx.engine.begin() as db:
        db.execute(sa.update(Case.__table__).where(Case.__table__.c.id == receipt.case_id)
                   .values(public_key=mallory.box))
    with other_services() as desk:
        case = desk.session.get(Case, receipt.case_id)
        assert case is not None
        with pytest.raises(KeyBindingInvalid):
            desk.case_access.writer(case)  # what a reporter with a pending copy would write with
        with pytest.raises(KeyBindingInvalid):
            desk.cases.open_case(org_a.handler, receipt.case_id)


def org_a_seed(org: Org) -> bytes:
    assert org.handler.private_key is not None
    return signing_seed(org.handler.private_key)


# --- IT with the master key and the command line ------------------------------------------------
def test_it_with_the_master_key_makes_nobody_a_reader_silently(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory,
        inbox: tuple[Inbox, int]) -> None:
    tenant = org_a.tenant
    # A handler of IT's own: IT set the password and, controlling the account, chooses "its own".
    user, _ = services.users.create_user("insider@it.example.com", "temporary password one",
                                         [(tenant.id, Role.HANDLER)], CLI)
    services.users.choose_password(user.id, "chosen by IT itself", CLI)
    insider = principal(services, user.id, "chosen by IT itself")
    add = services.readers.propose_add(tenant.id, user.id, CLI, "cli")
    with pytest.raises(NotAReader):  # no colleague can share a case with them either
        services.readers.reader(tenant.id, user.id)
    # An escrow key of IT's own, made "offline" on its own machine.
    params = LIGHT_ARGON2
    escrow_private = new_private_key()
    _private_text, public_text = write_escrow_files("alpha", escrow_private, "insider escrow passphrase",
                                                    params, ctx.clock())
    _key, escrow_change = services.case_key_pairs.install_escrow(tenant, read_public_file(public_text), CLI)
    services.session.commit()

    # With the master key IT can MAC an entry, but not sign it as a reader: the list stops verifying.
    state = services.readers.state(tenant.id)
    assert state is not None and insider.private_key is not None
    row = services.users.get(user.id)
    assert row.public_key is not None and row.sign_key is not None and row.key_signature is not None
    reader = Reader(user.id, row.public_key, row.sign_key, row.key_signature)
    body = encode_body(tenant.id, 2, state.head, ctx.clock(), Change(ADD, reader=reader),
                       tuple(sorted((*state.readers, reader), key=lambda r: str(r.user_id))), ())
    record = EntryRecord(2, body, USER, user.id, sign(signing_seed(insider.private_key), ENTRY_CONTEXT, body), b"")
    mac = ctx.binding.tag("reader-entry", *mac_parts(tenant.id, record))
    services.session.commit()  # (SQLite: one writer at a time)
    with ctx.engine.begin() as db:
        db.execute(sa.insert(ReaderListEntry.__table__).values(
            tenant_id=tenant.id, seq=2, body=body, signer_kind=USER, signer_id=user.id,
            signature=record.signature, mac=mac, created_at=ctx.clock()))
    with pytest.raises(ChannelNotReady):
        file_report(org_a, what="refused while the list does not verify")
    services.session.rollback()
    services.session.commit()  # (SQLite: one writer at a time)
    with ctx.engine.begin() as db:  # restored from a backup
        db.execute(sa.delete(ReaderListEntry.__table__).where(ReaderListEntry.__table__.c.seq == 2))

    receipt = file_report(org_a, what="sealed only to the confirmed reader")
    sealed_to = seal_fingerprints(ctx, receipt.case_id)
    assert fingerprint(public_key_of(insider.private_key)) not in sealed_to
    assert fingerprint(public_key_of(escrow_private)) not in sealed_to
    assert opened_by(ctx, insider.private_key) == [] and opened_by(ctx, escrow_private) == []

    # Every reader and administrator heard of both proposals; the logbook shows them.
    handler_email = services.users.email_of(services.users.get(org_a.handler.user_id))
    admin_email = services.users.email_of(services.users.get(org_a.admin.user_id))
    messages, port = inbox
    sent = ReaderNotices(services.session, services.users, services.readers,
                         Mailer(f"smtp://127.0.0.1:{port}", "appliance@example.com"), ctx.clock,
                         ctx.settings.base_url).send()
    services.session.commit()
    assert sent == len(messages.messages) >= 5
    assert {handler_email, admin_email, "insider@it.example.com"} <= set(messages.recipients())
    texts = [m.decode() for m in messages.messages]
    assert sum("Proposed: add insider@it.example.com" in t for t in texts) >= 2
    assert sum("Proposed: a new escrow key" in t for t in texts) >= 2
    assert all("Proposed by: the command line (IT)" in t for t in texts if "insider" in t or "escrow" in t)
    logged = actions(ctx, tenant.id)
    assert logged.count("readers.proposed") == 3 and "escrow.installed" in logged  # with the start

    # Only when the reader confirms, with their own key, do new reports reach the newcomers.
    services.readers.confirm(tenant.id, add.id, Signer.user(org_a.handler), org_a.handler.actor)
    services.readers.confirm(tenant.id, escrow_change.id, Signer.user(org_a.handler), org_a.handler.actor)
    services.session.commit()
    later = file_report(org_a, what="after the reader confirmed")
    assert {fingerprint(public_key_of(insider.private_key)),
            fingerprint(public_key_of(escrow_private))} <= seal_fingerprints(ctx, later.case_id)
    assert actions(ctx, tenant.id).count("readers.changed") == 3  # the start and two confirmations


def test_a_proposed_reader_cannot_confirm_themselves_nor_can_the_cli(
        services: Services, org_a: Org) -> None:
    user, _ = services.users.create_user("self@example.com", STAFF_PASSWORD, [(org_a.tenant.id, Role.HANDLER)], CLI,
                                         chosen_by_user=True)
    me = principal(services, user.id, STAFF_PASSWORD)
    change = services.readers.propose_add(org_a.tenant.id, user.id, CLI, "cli")
    with pytest.raises(NotAReader):
        services.readers.confirm(org_a.tenant.id, change.id, Signer.user(me), me.actor)
    # a pending change proposed in the web app cannot be withdrawn from the command line
    web = services.readers.propose_receives(org_a.tenant.id, org_a.handler.user_id, False, org_a.admin.actor, "web")
    with pytest.raises(Exception, match="withdraw"):
        services.readers.withdraw_cli(org_a.tenant.id, web.id, CLI)


# --- a reporting channel's readers (issue 17) ---------------------------------------------------
def channel_read_by(services: Services, org: Org, reader: StaffPrincipal) -> ReportingChannel:
    """A second channel of ``org`` whose only reader is ``reader`` (confirmed by the org's first reader)."""
    channel = services.channels.create(org.tenant.id, "Subsidiary", "", [], CLI)
    change = services.readers.propose_channel(org.tenant.id, channel.id, [reader.user_id], CLI, "cli")
    services.readers.confirm(org.tenant.id, change.id, Signer.user(org.handler), org.handler.actor)
    services.session.commit()
    return channel


def file_to(services: Services, org: Org, channel: ReportingChannel, what: str) -> uuid.UUID:
    receipt = services.reporting.submit(org.tenant, NewReport(org.category_id, what,
                                                              reporting_channel_id=channel.id), [])
    services.session.commit()
    return receipt.case_id


def test_a_dba_who_edits_a_channel_entry_or_its_change_adds_nobody_to_the_channel(
        ctx: AppContext, services: Services, org_a: Org, make_reader: ReaderFactory,
        other_services: ServicesOpener) -> None:
    bo = make_reader(org_a)
    channel = channel_read_by(services, org_a, bo)
    tenant_id, channel_id = org_a.tenant.id, channel.id
    assert org_a.handler.private_key is not None
    # The confirmed change row says who the channel's readers are: rewriting it changes nothing.
    with ctx.engine.begin() as db:
        db.execute(sa.update(ReaderChange.__table__).where(ReaderChange.__table__.c.kind == "channel")
                   .values(members=json.dumps([str(bo.user_id), str(org_a.handler.user_id)])))
    case_id = file_to(services, org_a, channel, "after the change row was edited")
    assert fingerprint(public_key_of(org_a.handler.private_key)) not in seal_fingerprints(ctx, case_id)

    # The entry itself: the handler written into the channel's readers, the MAC kept.
    with ctx.engine.begin() as db:
        table = ReaderListEntry.__table__
        seq, body = db.execute(sa.select(table.c.seq, table.c.body).where(table.c.tenant_id == tenant_id)
                               .order_by(table.c.seq.desc()).limit(1)).one()
        document = json.loads(body)
        document["channels"][0]["members"] = sorted([str(bo.user_id), str(org_a.handler.user_id)])
        db.execute(sa.update(table).where(table.c.tenant_id == tenant_id, table.c.seq == seq)
                   .values(body=json.dumps(document, sort_keys=True, separators=(",", ":")).encode()))
    # This process verified the list before the edit: it keeps sealing to what was signed.
    warm = file_to(services, org_a, channel, "while this process remembers the verified list")
    assert fingerprint(public_key_of(org_a.handler.private_key)) not in seal_fingerprints(ctx, warm)
    # A process that reads the list afresh (a restart, another app host) finds the edit and refuses.
    ctx.verified_lists = VerifiedLists()
    with other_services() as desk:
        tenant = desk.tenants.by_slug("alpha")
        assert desk.reporting.accepting(tenant, desk.channels.channel(tenant_id, channel_id)) is False
        with pytest.raises(ChannelNotReady):
            desk.reporting.submit(tenant, NewReport(org_a.category_id, "never stored",
                                                    reporting_channel_id=channel_id), [])
        desk.session.rollback()
    assert opened_by(ctx, org_a.handler.private_key) == []


def test_it_with_the_master_key_cannot_sign_a_reader_into_a_channel(
        ctx: AppContext, services: Services, org_a: Org, make_reader: ReaderFactory) -> None:
    """The first reader is on the tenant's list, holds their own key and has IT's help with the
    MAC: still they cannot write themselves into a channel whose reader is someone else."""
    bo = make_reader(org_a)
    channel = channel_read_by(services, org_a, bo)
    tenant_id = org_a.tenant.id
    state = services.readers.state(tenant_id)
    assert state is not None and org_a.handler.private_key is not None
    members = tuple(sorted((bo.user_id, org_a.handler.user_id), key=str))
    change = Change(CHANNEL, channel=ChannelReaders(channel.id, members))
    readers, escrow, channels = apply_full(state.readers, state.escrow, state.channels, change)
    body = encode_body(tenant_id, state.seq + 1, state.head, ctx.clock(), change, readers, escrow, channels)
    record = EntryRecord(state.seq + 1, body, USER, org_a.handler.user_id,
                         sign(signing_seed(org_a.handler.private_key), ENTRY_CONTEXT, body), b"")
    mac = ctx.binding.tag("reader-entry", *mac_parts(tenant_id, record))
    services.session.commit()  # (SQLite: one writer at a time)
    with ctx.engine.begin() as db:
        db.execute(sa.insert(ReaderListEntry.__table__).values(
            tenant_id=tenant_id, seq=record.seq, body=body, signer_kind=USER, signer_id=org_a.handler.user_id,
            signature=record.signature, mac=mac, created_at=ctx.clock()))
    with pytest.raises(ReaderListTampered, match="not signed by a reader of that channel"):
        services.readers.state(tenant_id)
    with pytest.raises(ChannelNotReady):
        file_to(services, org_a, channel, "refused while the list does not verify")
    services.session.rollback()
    assert opened_by(ctx, org_a.handler.private_key) == []
