"""Issue 4: case keys sealed to handlers, the reporter and the escrow key (both databases).

The attack test gives a separate process everything the customer's IT holds (a copy of the
database, the master key file, the configuration) and no handler password or case key.
The other tests walk access: no copy, revoke, grant, escrow recovery, password change and
an administrator's reset, channel recipients, and the conversion of pre-upgrade cases.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.audit.models import AuditEvent
from appliance.cases.access import REPORTER_SEAL
from appliance.cases.models import Case, CaseKeySeal
from appliance.cases.reporting import Receipt, ReportForm
from appliance.cases.service import QueueFilter
from appliance.context import AppContext
from appliance.crypto.fields import Place
from appliance.errors import (
    AuthenticationFailed,
    CaseLocked,
    ChannelNotReady,
    DecryptionFailed,
    EscrowError,
    InvalidInput,
    NotAReader,
    NotFound,
)
from appliance.readers.service import Signer
from appliance.services import Services
from appliance.tenants.models import ChannelRecipient
from tests.functional.conftest import (
    STAFF_PASSWORD,
    Org,
    ReaderFactory,
    ReportFactory,
    StaffFactory,
    copy_database,
    drain,
    upload,
)
from tests.light import LIGHT_TOML
from tests.support import install_escrow, pg_drop, start_reader_list

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

CLIENT = "192.0.2.7"
PASSPHRASE = "orchid tundra lantern basalt quiver"


def marker(name: str) -> str:
    return f"Mk4{name}{secrets.token_hex(4)}"


# --- the attack ------------------------------------------------------------------------------------
@pytest.fixture
def full_case(services: Services, org_a: Org, file_report: ReportFactory) -> tuple[Receipt, dict[str, str]]:
    m = {n: marker(n) for n in ("what", "when", "where", "people", "contact", "reply", "message", "note",
                                "conclusion", "filename", "content", "replyfile")}
    install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler)
    receipt = file_report(org_a, what=m["what"], when=m["when"], where=m["where"], people=m["people"],
                          contact=f"{m['contact']}@example.org",
                          uploads=[upload(f"{m['filename']}.pdf", f"%PDF {m['content']}".encode())])
    services.reporting.reply(org_a.tenant, receipt.case_id, receipt.private_key, m["reply"],
                             [upload(f"{m['replyfile']}.txt", m["replyfile"].encode(), "text/plain")])
    services.cases.change_status(org_a.handler, receipt.case_id, "acknowledged")
    services.cases.post_message(org_a.handler, receipt.case_id, m["message"], [], is_feedback=True)
    services.cases.add_note(org_a.handler, receipt.case_id, m["note"])
    services.cases.change_status(org_a.handler, receipt.case_id, "closed", "substantiated", m["conclusion"])
    # A handler is signed in right now: their private key sits in the sessions table too.
    token, row = services.web_sessions.create("staff", "full", user_id=org_a.handler.user_id)
    assert org_a.handler.private_key is not None
    services.web_sessions.store_secret(row, token, org_a.handler.private_key)
    services.session.commit()
    return receipt, m


def copy_installation(backend: str, ctx: AppContext, target: Path) -> Path:
    """What IT holds: the database (for SQLite the file, and the person key vault beside it), the
    master key file and the config."""
    target.mkdir()
    if backend == "sqlite":
        shutil.copyfile(Path(ctx.settings.data_dir) / "vault.db", target / "vault.db")
    shutil.copyfile(ctx.settings.master_key_file, target / "master.key")
    (target / "master.key").chmod(0o400)
    url = copy_database(backend, ctx, target)
    (target / "appliance.toml").write_text(
        f'database_url = "{url}"\nmaster_key_file = "{target / "master.key"}"\ndata_dir = "{target}"\n' + LIGHT_TOML)
    return target / "appliance.toml"


@pytest.mark.fresh_database
def test_attack_everything_it_holds_but_no_password_or_case_key_opens_no_report(
        backend: str, ctx: AppContext, services: Services, full_case: tuple[Receipt, dict[str, str]],
        tmp_path: Path) -> None:
    receipt, markers = full_case
    services.session.close()
    config = copy_installation(backend, ctx, tmp_path / "stolen")
    try:
        result = subprocess.run([sys.executable, "-m", "tests.functional.thief", str(config)],
                                capture_output=True, text=True, timeout=300, check=False,
                                cwd=Path(__file__).parents[2])
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
    finally:
        if backend == "postgres":
            url = sa.make_url(config.read_text().split('"')[1])
            pg_drop(str(url.database))
    assert report["keys_tried"] >= 8
    opened_places = {o["where"] for o in report["opened"]}
    # What the server may open by design: staff accounts (installation key), nothing of a case.
    assert opened_places <= {"users.email_sealed", "users.totp_secret_sealed"}, opened_places
    everything = json.dumps(report) + result.stderr
    for name, value in markers.items():
        assert value not in everything, name
    assert receipt.case_key not in everything


# --- access by handlers ----------------------------------------------------------------------------
def second_handler(services: Services, make_staff: StaffFactory, org: Org) -> StaffPrincipal:
    return make_staff((org.tenant, Role.HANDLER))


def test_a_handler_without_a_copy_cannot_read_even_with_a_forged_principal(
        services: Services, org_a: Org, file_report: ReportFactory, make_staff: StaffFactory) -> None:
    receipt = file_report(org_a, what="Only the first handler may read this.")
    newcomer = second_handler(services, make_staff, org_a)
    with pytest.raises(CaseLocked) as locked:
        services.cases.open_case(newcomer, receipt.case_id)
    assert locked.value.reason == "no-access"
    # A principal claiming the colleague's id but holding its own key (a tampered session).
    forged = dataclasses.replace(org_a.handler, private_key=newcomer.private_key)
    with pytest.raises(CaseLocked):
        services.cases.open_case(forged, receipt.case_id)
    with pytest.raises(CaseLocked) as no_key:
        services.cases.open_case(dataclasses.replace(org_a.handler, private_key=None), receipt.case_id)
    assert no_key.value.reason == "no-session-key"
    # The queue shows the case's metadata, marked as not openable.
    (row,) = [r for r in services.cases.queue(newcomer, QueueFilter()) if r.id == receipt.case_id]
    assert row.accessible is False
    assert "Only the first handler" not in str(row)


def test_grant_then_revoke(services: Services, org_a: Org, file_report: ReportFactory, make_reader: ReaderFactory) -> None:
    receipt = file_report(org_a, what="Shared text")
    colleague = make_reader(org_a, receives=False)
    services.cases.share(org_a.handler, receipt.case_id, colleague.user_id)
    services.session.commit()
    assert services.cases.open_case(colleague, receipt.case_id).report.what == "Shared text"
    assert {h.user_id for h in services.cases.holders(org_a.handler, receipt.case_id)} == {
        org_a.handler.user_id, colleague.user_id}

    services.cases.unshare(org_a.handler, receipt.case_id, colleague.user_id)
    services.session.commit()
    with pytest.raises(CaseLocked):
        services.cases.open_case(colleague, receipt.case_id)
    # The last copy cannot be withdrawn: nobody could read the case any more.
    with pytest.raises(InvalidInput):
        services.cases.unshare(org_a.handler, receipt.case_id, org_a.handler.user_id)
    # The reporter still reads with the case key.
    access = services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT)
    assert services.reporting.view(org_a.tenant, access.case_id, access.private_key).report.what == "Shared text"
    actions = [e.action for e in services.session.execute(sa.select(AuditEvent).where(
        AuditEvent.object_id == str(receipt.case_id))).scalars()]
    assert "case_access.granted" in actions and "case_access.revoked" in actions


def test_sharing_needs_access_and_stays_in_the_tenant(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory, make_staff: StaffFactory,
        make_reader: ReaderFactory) -> None:
    receipt = file_report(org_a)
    outsider = make_reader(org_a, receives=False)
    with pytest.raises(CaseLocked):  # no copy: cannot share what you cannot open
        services.cases.share(outsider, receipt.case_id, outsider.user_id)
    with pytest.raises(NotAReader):  # another tenant's handler is not a reader here
        services.cases.share(org_a.handler, receipt.case_id, org_b.handler.user_id)
    with pytest.raises(NotAReader):  # nor is a handler here whom no reader confirmed
        services.cases.share(org_a.handler, receipt.case_id, second_handler(services, make_staff, org_a).user_id)
    with pytest.raises(NotFound):  # and another tenant's handler does not even see the case
        services.cases.share(org_b.handler, receipt.case_id, org_b.handler.user_id)


def test_readers_who_receive_new_reports_get_exactly_them(
        services: Services, org_a: Org, file_report: ReportFactory, make_staff: StaffFactory,
        make_reader: ReaderFactory) -> None:
    chosen = make_reader(org_a, receives=True)
    left_out = make_reader(org_a, receives=False)
    second_handler(services, make_staff, org_a)  # a handler on no list receives nothing either
    services.session.add(ChannelRecipient(tenant_id=org_a.tenant.id, user_id=left_out.user_id,
                                          added_at=services.ctx.clock()))  # the old table decides nothing
    stop = services.readers.propose_receives(org_a.tenant.id, org_a.handler.user_id, False, org_a.admin.actor, "web")
    services.readers.confirm(org_a.tenant.id, stop.id, Signer.user(chosen), chosen.actor)
    services.session.commit()
    receipt = file_report(org_a, what="For the chosen one")
    holders = {h.user_id for h in services.cases.holders(chosen, receipt.case_id)}
    assert holders == {chosen.user_id}
    assert services.cases.open_case(chosen, receipt.case_id).report.what == "For the chosen one"
    for other in (left_out, org_a.handler):
        with pytest.raises(CaseLocked):
            services.cases.open_case(other, receipt.case_id)


# --- passwords -------------------------------------------------------------------------------------
def test_own_password_change_keeps_access(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, what="Still mine")
    user_id = org_a.handler.user_id
    services.users.change_password(user_id, STAFF_PASSWORD, "a completely new passphrase", CLI)
    services.session.commit()
    with pytest.raises(AuthenticationFailed):
        services.users.unlock_private_key(user_id, STAFF_PASSWORD)
    again = services.users.principal(user_id, services.users.unlock_private_key(user_id, "a completely new passphrase"))
    assert services.cases.open_case(again, receipt.case_id).report.what == "Still mine"


def reset_and_choose(services: Services, user_id: uuid.UUID) -> StaffPrincipal:
    """An administrator resets the password; the user signs in and chooses their own, getting a
    new key pair (which the reader list does not hold yet: a rekey waits for confirmation)."""
    services.users.set_password(user_id, "reset by the administrator", CLI)
    services.session.commit()
    with pytest.raises(AuthenticationFailed):  # the administrator's password unlocks no key
        services.users.unlock_private_key(user_id, "reset by the administrator")
    services.users.choose_password(user_id, "chosen by the user again", CLI)
    assert [c.kind for c in services.readers.notice_new_keys(user_id)] in ([], ["rekey"])
    services.session.commit()
    return services.users.principal(user_id, services.users.unlock_private_key(user_id, "chosen by the user again"))


def test_admin_reset_loses_access_until_escrow_recovery(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    escrow_text = install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler)
    receipt = file_report(org_a, what="Recover me")
    user_id = org_a.handler.user_id
    after_reset = reset_and_choose(services, user_id)
    assert services.users.get(user_id).keys_reset_at is not None
    with pytest.raises(CaseLocked) as locked:
        services.cases.open_case(after_reset, receipt.case_id)
    assert locked.value.reason == "key-reset"
    assert [r.accessible for r in services.cases.queue(after_reset, QueueFilter()) if r.id == receipt.case_id] == [False]

    with pytest.raises(EscrowError) as wrong:
        services.case_keys.unlock_escrow(org_a.tenant, escrow_text, "not the passphrase at all", CLI)
    assert "wrong passphrase" in str(wrong.value)
    unlocked = services.case_keys.unlock_escrow(org_a.tenant, escrow_text, PASSPHRASE, CLI)
    result = services.case_keys.recover_user(org_a.tenant, unlocked, user_id, CLI)
    services.session.commit()
    assert (result.done, result.skipped) == (1, 0)
    assert services.cases.open_case(after_reset, receipt.case_id).report.what == "Recover me"
    actions = {e.action for e in services.session.execute(sa.select(AuditEvent)).scalars()}
    assert {"escrow.installed", "escrow.used", "escrow.recovered_user", "readers.changed"} <= actions
    # the escrow holder confirmed the new key: new reports reach it again
    later = file_report(org_a, what="After the recovery")
    assert services.cases.open_case(after_reset, later.case_id).report.what == "After the recovery"


def test_escrow_grants_a_new_handler_old_cases_and_refuses_foreign_files(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory, make_staff: StaffFactory,
        make_reader: ReaderFactory) -> None:
    text_a = install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler)
    text_b = install_escrow(services, org_b.tenant.id, org_b.tenant.slug, org_b.handler)
    old = [file_report(org_a, what=f"old {n}") for n in range(2)]
    stranger = second_handler(services, make_staff, org_a)
    unlocked = services.case_keys.unlock_escrow(org_a.tenant, text_a, PASSPHRASE, CLI)
    with pytest.raises(NotAReader):  # the escrow holder too gives access only to confirmed readers
        services.case_keys.grant_with_escrow(org_a.tenant, unlocked, stranger.user_id, None, CLI)
    services.session.rollback()
    newcomer = make_reader(org_a, receives=False)
    unlocked = services.case_keys.unlock_escrow(org_a.tenant, text_a, PASSPHRASE, CLI)
    result = services.case_keys.grant_with_escrow(org_a.tenant, unlocked, newcomer.user_id, None, CLI)
    services.session.commit()
    assert result.done == 2
    assert {services.cases.open_case(newcomer, r.case_id).report.what for r in old} == {"old 0", "old 1"}
    with pytest.raises(EscrowError):
        services.case_keys.unlock_escrow(org_a.tenant, text_b, PASSPHRASE, CLI)
    lines = text_a.splitlines()
    body = lines.index("-----BEGIN APPLIANCE ESCROW KEY-----") + 2
    lines[body] = lines[body][:10] + ("A" if lines[body][10] != "A" else "B") + lines[body][11:]
    with pytest.raises(EscrowError):
        services.case_keys.unlock_escrow(org_a.tenant, "\n".join(lines), PASSPHRASE, CLI)
    assert PASSPHRASE not in text_a


# --- before the upgrade ----------------------------------------------------------------------------
def make_legacy_case(services: Services, org: Org, what: str) -> tuple[uuid.UUID, str]:
    """A case as the foundation stored it: data key wrapped under the tenant key."""
    receipt = services.reporting.submit(org.tenant, ReportForm(org.category_id, what), [])
    case = services.session.get(Case, receipt.case_id)
    assert case is not None
    content_key = services.case_access.keys_from_private(case, receipt.private_key).cipher.content_key
    assert content_key is not None
    # Wrap the same content key the way the foundation did, then drop every sealed copy.
    case.wrapped_key, case.key_version = services.keyring.wrap_case_key(org.tenant.id, case.id, content_key, CLI)
    case.public_key = case.content_key_sealed = case.reporter_public_key = None
    services.session.execute(sa.delete(CaseKeySeal).where(CaseKeySeal.case_id == case.id))
    services.session.commit()
    return case.id, receipt.case_key


def test_seal_existing_converts_old_cases_and_the_reporter_gets_back_in(
        services: Services, org_a: Org) -> None:
    case_id, case_key = make_legacy_case(services, org_a, "From before the upgrade")
    assert services.cases.open_case(org_a.handler, case_id).report.what == "From before the upgrade"
    install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler)
    assert services.case_keys.unsealed_count(org_a.tenant) == 1
    assert services.case_keys.seal_existing_batch(org_a.tenant, CLI) == 1
    services.session.commit()
    case = services.session.get(Case, case_id)
    assert case is not None and case.wrapped_key is None and case.public_key is not None
    assert services.case_keys.unsealed_count(org_a.tenant) == 0
    assert services.cases.open_case(org_a.handler, case_id).report.what == "From before the upgrade"

    # The server never had the reporter's key: their copy waits for them and a handler.
    services.session.execute(sa.delete(CaseKeySeal).where(CaseKeySeal.case_id == case_id,
                                                          CaseKeySeal.kind == REPORTER_SEAL))
    services.session.commit()
    assert services.cases.reporter_copy_pending(org_a.handler, case_id) is False  # not signed in since
    access = services.reporting.open_with_key(org_a.tenant, case_key, CLIENT)
    assert access.private_key is None
    pending = services.reporting.view(org_a.tenant, case_id, None)
    assert pending.readable is False and pending.report.what == ""
    services.reporting.reply(org_a.tenant, case_id, None, "Written while pending",
                             [upload("p.txt", b"pending file", "text/plain")])
    services.session.commit()
    seals = services.session.execute(sa.select(sa.func.count()).select_from(CaseKeySeal)).scalar_one()
    view = services.cases.open_case(org_a.handler, case_id)  # opening adds no copy by itself
    assert services.session.execute(sa.select(sa.func.count()).select_from(CaseKeySeal)).scalar_one() == seals
    assert view.thread[-1].body == "Written while pending"
    assert services.cases.reporter_copy_pending(org_a.handler, case_id) is True
    services.cases.restore_reporter_copy(org_a.handler, case_id)  # the handler's deliberate act
    assert services.cases.reporter_copy_pending(org_a.handler, case_id) is False
    assert drain(services.cases.download(org_a.handler, case_id, view.thread[-1].attachments[0].id)) == b"pending file"
    services.session.commit()
    access = services.reporting.open_with_key(org_a.tenant, case_key, CLIENT)
    assert access.private_key is not None
    assert services.reporting.view(org_a.tenant, case_id, access.private_key).report.what == "From before the upgrade"


def test_seal_existing_refuses_when_nobody_could_read_the_result(services: Services, org_a: Org) -> None:
    make_legacy_case(services, org_a, "x")
    services.users.set_disabled(org_a.handler.user_id, True, CLI)
    with pytest.raises(InvalidInput):
        services.case_keys.seal_existing_batch(org_a.tenant, CLI)


def test_public_envelope_is_bound_to_its_place(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    case = services.session.get(Case, receipt.case_id)
    assert case is not None
    writer = services.case_access.writer(case).cipher
    sealed = writer.seal("added by someone who cannot read", Place("case_messages", "body", uuid.uuid4()))
    keys = services.case_access.keys_from_private(case, receipt.private_key)
    with pytest.raises(DecryptionFailed):
        keys.cipher.open(sealed, Place("case_messages", "body", uuid.uuid4()))
    with pytest.raises(DecryptionFailed):
        writer.open(sealed, Place("case_messages", "body", uuid.uuid4()))


def test_losing_the_handler_role_drops_the_copies_but_never_the_last_one(
        services: Services, org_a: Org, file_report: ReportFactory, make_reader: ReaderFactory) -> None:
    receipt = file_report(org_a, what="Keep me readable")
    colleague = make_reader(org_a, receives=False)
    with pytest.raises(InvalidInput, match="only key"):
        services.users.revoke_role(org_a.handler.user_id, org_a.tenant.id, Role.HANDLER, CLI)
    services.session.rollback()
    services.cases.share(org_a.handler, receipt.case_id, colleague.user_id)
    services.users.revoke_role(org_a.handler.user_id, org_a.tenant.id, Role.HANDLER, CLI)
    services.session.commit()
    assert {h.user_id for h in services.case_access.holders(receipt.case_id)} == {colleague.user_id}
    assert services.cases.open_case(colleague, receipt.case_id).report.what == "Keep me readable"
    # With the role back, the former handler still has no copy: someone must share again.
    services.users.grant_role(org_a.handler.user_id, org_a.tenant.id, Role.HANDLER, CLI)
    again = services.users.principal(org_a.handler.user_id, org_a.handler.private_key)
    with pytest.raises(CaseLocked):
        services.cases.open_case(again, receipt.case_id)


def test_a_channel_nobody_could_read_refuses_reports_before_anything_is_stored(
        services: Services, make_staff: StaffFactory) -> None:
    tenant = services.tenants.create_tenant("Unstaffed AB", "unstaffed", CLI)
    services.session.commit()
    handler = make_staff((tenant, Role.HANDLER))  # a handler with a key, but on no reader list
    category = services.tenants.categories(tenant.id)[0].id
    assert services.reporting.accepting(tenant) is False
    with pytest.raises(ChannelNotReady):
        services.reporting.submit(tenant, ReportForm(category, "Nobody would read this"), [])
    services.session.rollback()
    assert services.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == 0
    start_reader_list(services, tenant.id, handler, make_staff((tenant, Role.ADMIN)))
    assert services.reporting.accepting(tenant) is True
    services.reporting.submit(tenant, ReportForm(category, "The first reader reads this"), [])


def test_a_handler_without_a_copy_cannot_change_status_or_assignment(
        services: Services, org_a: Org, file_report: ReportFactory, make_staff: StaffFactory) -> None:
    receipt = file_report(org_a)
    outsider = second_handler(services, make_staff, org_a)
    for attempt in (lambda: services.cases.change_status(outsider, receipt.case_id, "acknowledged"),
                    lambda: services.cases.assign(outsider, receipt.case_id, outsider.user_id)):
        with pytest.raises(CaseLocked):
            attempt()
    case = services.session.get(Case, receipt.case_id)
    assert case is not None and case.acknowledged_at is None and case.assignee_id is None and case.status == "received"
    summary = services.cases.summary(outsider, receipt.case_id)  # the metadata the locked page shows
    assert summary.reference == case.reference and summary.accessible is False


def test_the_reset_notice_goes_once_every_copy_is_restored(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    escrow_text = install_escrow(services, org_a.tenant.id, org_a.tenant.slug, org_a.handler)
    file_report(org_a)
    reset_and_choose(services, org_a.handler.user_id)
    assert services.users.get(org_a.handler.user_id).keys_reset_at is not None
    unlocked = services.case_keys.unlock_escrow(org_a.tenant, escrow_text, PASSPHRASE, CLI)
    services.case_keys.recover_user(org_a.tenant, unlocked, org_a.handler.user_id, CLI)
    assert services.users.get(org_a.handler.user_id).keys_reset_at is None
