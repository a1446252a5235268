"""The reporter's side on real databases: submit, come back with the case key, read, limits."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, REPORTER
from appliance.audit.models import AuditEvent
from appliance.cases.reporting import Limits, NewReport, ReportingService
from appliance.crypto.case_keys import CaseKey
from appliance.crypto.files import CHUNK_BYTES
from appliance.errors import AuthenticationFailed, InvalidInput, LockedOut, NotFound, TooLarge
from appliance.services import Services
from appliance.settings import Settings
from tests.functional.conftest import Org, ReaderFactory, ReportFactory, ServicesOpener, count_rows, drain, upload
from tests.support import FrozenClock

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

CLIENT = "reporter-client-1"
STORED_TABLES = ("cases", "attachments", "attachment_chunks", "case_messages")


def small_reporting(services: Services, per_file: int, per_report: int) -> ReportingService:
    """The reporter service as Services builds it, but with small upload limits."""
    return ReportingService(services.session, services.keyring, services.case_access, services.logbook,
                            services.ctx.blind_index, services.ctx.ephemeral, services.ctx.clock,
                            Limits(per_file, per_report), services.reporter_limits)


def stored_counts(services: Services) -> dict[str, int]:
    return {table: count_rows(services.session, table) for table in STORED_TABLES}


# --- round trip ----------------------------------------------------------------------------
def test_report_round_trip_decrypts_every_field_and_attachment(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    big = os.urandom(3 * CHUNK_BYTES + 12345)          # several chunks, ragged end
    boundary = os.urandom(2 * CHUNK_BYTES)            # exactly on a chunk boundary
    small = b"%PDF-1.7 invoice 4711\n"
    receipt = file_report(
        org_a, what="Invoices are paid twice.\r\nSee attached.", when="Since January", where="Depot 3",
        people="The deputy head of purchasing", contact="witness@example.org",
        uploads=[upload("invoice.pdf", small), upload("export.zip", big, "application/zip"),
                 upload("scan.png", boundary, "image/png"), upload("empty.txt", b"", "text/plain")])

    view = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key)

    assert view.status == "received"
    assert view.report.what == "Invoices are paid twice.\nSee attached."
    assert (view.report.when, view.report.where, view.report.people, view.report.contact) == (
        "Since January", "Depot 3", "The deputy head of purchasing", "witness@example.org")
    # One frozen instant for every upload: compare without relying on order.
    assert sorted((a.filename, a.content_type, a.size_bytes) for a in view.report_attachments) == [
        ("empty.txt", "text/plain", 0), ("export.zip", "application/zip", len(big)),
        ("invoice.pdf", "application/pdf", len(small)), ("scan.png", "image/png", len(boundary))]
    contents = {a.filename: drain(services.reporting.download(org_a.tenant, receipt.case_id, receipt.private_key, a.id))
                for a in view.report_attachments}
    assert contents == {"invoice.pdf": small, "export.zip": big, "scan.png": boundary, "empty.txt": b""}


def test_download_streams_one_chunk_at_a_time(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 1)
    receipt = file_report(org_a, uploads=[upload("video.mp4", data, "video/mp4")])
    (info,) = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key).report_attachments

    download = services.reporting.download(org_a.tenant, receipt.case_id, receipt.private_key, info.id)

    chunks = list(download.chunks)
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 1]
    assert b"".join(chunks) == data
    assert download.info.size_bytes == len(data)


def test_uploaded_names_and_types_are_cleaned(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, uploads=[
        upload("C:\\Users\\me\\..\\..\\secret\\evidence.pdf\x00\x1b", b"a", "application/pdf; name=x"),
        upload("../../etc/passwd", b"b", "text/html"),
        upload("...", b"c", "application/x-msdownload"),
    ])

    infos = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key).report_attachments

    assert sorted((a.filename, a.content_type) for a in infos) == [
        ("attachment", "application/octet-stream"), ("evidence.pdf", "application/pdf"),
        ("passwd", "application/octet-stream")]


# --- the case key -----------------------------------------------------------------------------
def test_case_key_opens_its_case_in_any_reasonable_spelling(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    key = receipt.case_key.display
    assert len(key) == 19 and key.count("-") == 3

    spellings = [key, key.lower(), key.replace("-", " "), f"  {key.replace('-', '')}  ", key.lower().replace("-", "")]
    for spelling in spellings:
        assert services.reporting.open_with_key(org_a.tenant, spelling, CLIENT).case_id == receipt.case_id


def test_case_keys_are_distinct_per_report(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    first, second = file_report(org_a), file_report(org_a)

    assert first.case_key != second.case_key
    assert services.reporting.open_with_key(org_a.tenant, first.case_key, CLIENT).case_id == first.case_id
    assert services.reporting.open_with_key(org_a.tenant, second.case_key, CLIENT).case_id == second.case_id


@pytest.mark.parametrize("guess", ["", "not a key", "0000-0000-0000-0000", "A" * 500, "ABCD-EFGH-JKMN-PQR\u00e9"])
def test_garbage_keys_are_refused(services: Services, org_a: Org, file_report: ReportFactory, guess: str) -> None:
    file_report(org_a)
    with pytest.raises(AuthenticationFailed):
        services.reporting.open_with_key(org_a.tenant, guess, CLIENT)


def test_wrong_keys_pause_the_client_briefly(
        services: Services, settings: Settings, clock: FrozenClock, org_a: Org, org_b: Org,
        file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    other = file_report(org_b)
    for _ in range(settings.lockout_case_key_threshold):
        with pytest.raises(AuthenticationFailed):
            services.reporting.open_with_key(org_a.tenant, CaseKey.new(), CLIENT)
    services.session.commit()  # what the web boundary does (the logbook events)

    with pytest.raises(LockedOut) as locked:
        services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT)
    assert locked.value.retry_after_seconds == settings.lockout_case_key_seconds
    # Only this client, only at this organisation: reporters elsewhere (another NAT, another
    # channel) are not held up by someone guessing.
    assert services.reporting.open_with_key(org_a.tenant, receipt.case_key, "another-client").case_id == receipt.case_id
    assert services.reporting.open_with_key(org_b.tenant, other.case_key, CLIENT).case_id == other.case_id

    clock.advance(seconds=settings.lockout_case_key_seconds - 1)
    with pytest.raises(LockedOut):
        services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT)
    clock.advance(seconds=1)
    assert services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT).case_id == receipt.case_id


def test_case_key_pauses_stay_flat_for_a_persistent_guesser(
        services: Services, settings: Settings, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    file_report(org_a)
    for _ in range(settings.lockout_case_key_threshold):
        with pytest.raises(AuthenticationFailed):
            services.reporting.open_with_key(org_a.tenant, CaseKey.new(), CLIENT)
    for _ in range(5):  # a NAT or Tor exit shared with reporters: never more than the short pause
        with pytest.raises(LockedOut) as locked:
            services.reporting.open_with_key(org_a.tenant, CaseKey.new(), CLIENT)
        assert locked.value.retry_after_seconds == settings.lockout_case_key_seconds <= 60
        clock.advance(seconds=settings.lockout_case_key_seconds)
        with pytest.raises(AuthenticationFailed):
            services.reporting.open_with_key(org_a.tenant, CaseKey.new(), CLIENT)


def test_lockout_holds_across_workers_and_never_reaches_the_database(
        services: Services, settings: Settings, org_a: Org, file_report: ReportFactory,
        other_services: ServicesOpener) -> None:
    receipt = file_report(org_a)
    for _ in range(settings.lockout_case_key_threshold):
        with pytest.raises(AuthenticationFailed):
            services.reporting.open_with_key(org_a.tenant, CaseKey.new(), CLIENT)
    services.session.commit()

    with other_services() as fresh, pytest.raises(LockedOut):
        fresh.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT)
    assert count_rows(services.session, "throttles") == 0


def test_failed_and_accepted_keys_are_logged_without_the_key(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    assert receipt.case_key.normalised not in repr(receipt) and receipt.case_key.display not in f"{receipt}"
    wrong = CaseKey.new().display
    with pytest.raises(AuthenticationFailed):
        services.reporting.open_with_key(org_a.tenant, wrong, CLIENT)
    services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT)

    events = services.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    actions = [e.action for e in events]
    assert "case_key.failed" in actions and "case_key.accepted" in actions
    for event in events:
        text = repr([getattr(event, c) for c in ("action", "object_type", "object_id", "detail", "actor_id")])
        for secret in (receipt.case_key.display, wrong, receipt.case_key.normalised, CLIENT):
            assert secret not in text


# --- tenants ------------------------------------------------------------------------------------
def test_case_key_of_one_tenant_does_not_open_in_another(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, uploads=[upload("a.pdf", b"evidence")])
    (info,) = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key).report_attachments

    with pytest.raises(AuthenticationFailed):
        services.reporting.open_with_key(org_b.tenant, receipt.case_key, CLIENT)
    with pytest.raises(NotFound):
        services.reporting.view(org_b.tenant, receipt.case_id, receipt.private_key)
    with pytest.raises(NotFound):
        services.reporting.reply(org_b.tenant, receipt.case_id, receipt.private_key, "hello from elsewhere", [])
    with pytest.raises(NotFound):
        services.reporting.download(org_b.tenant, receipt.case_id, receipt.private_key, info.id)
    assert services.reporting.open_with_key(org_a.tenant, receipt.case_key, CLIENT).case_id == receipt.case_id


def test_category_of_another_tenant_is_refused(services: Services, org_a: Org, org_b: Org) -> None:
    before = stored_counts(services)
    with pytest.raises(InvalidInput) as refused:
        services.reporting.submit(org_a.tenant, NewReport(org_b.category_id, "Something happened"), [])
    assert refused.value.field == "category"
    assert stored_counts(services) == before


def test_inactive_unknown_or_missing_category_is_refused(services: Services, org_a: Org) -> None:
    services.tenants.set_category_active(org_a.tenant.id, org_a.other_category_id, False, CLI)
    for category_id in (org_a.other_category_id, uuid.uuid4(), None):
        with pytest.raises(InvalidInput) as refused:
            services.reporting.submit(org_a.tenant, NewReport(category_id, "Something happened"), [])
        assert refused.value.field == "category"


@pytest.mark.parametrize(("fields", "bad_field"), [
    ({"what": "   "}, "what"),
    ({"what": "x" * 20_001}, "what"),
    ({"what": "nul \x00 byte"}, "what"),
    ({"what": "ok", "where": "y" * 2_001}, "where"),
    ({"what": "ok", "contact": "not an address"}, "contact"),
    ({"what": "ok", "contact": "a@b"}, "contact"),
])
def test_invalid_report_fields_are_refused_and_nothing_is_stored(
        services: Services, org_a: Org, fields: dict[str, str], bad_field: str) -> None:
    before = stored_counts(services)
    with pytest.raises(InvalidInput) as refused:
        services.reporting.submit(org_a.tenant, NewReport(org_a.category_id, **fields), [])
    assert refused.value.field == bad_field
    assert stored_counts(services) == before


# --- size limits ----------------------------------------------------------------------------------
def test_oversize_attachment_is_refused_and_nothing_is_stored(services: Services, org_a: Org) -> None:
    reporting = small_reporting(services, per_file=1000, per_report=2500)
    events_before = count_rows(services.session, "audit_events")
    empty = stored_counts(services)

    with pytest.raises(TooLarge) as refused:
        reporting.submit(org_a.tenant, NewReport(org_a.category_id, "Too much evidence"),
                         [upload("ok.pdf", b"x" * 10), upload("big.pdf", b"y" * 1001)])
    assert refused.value.limit_bytes == 1000
    services.session.rollback()

    assert stored_counts(services) == empty
    assert count_rows(services.session, "audit_events") == events_before
    assert services.logbook.verify().ok


def test_oversize_attachment_is_stopped_after_the_first_chunk_past_the_limit(
        services: Services, org_a: Org) -> None:
    reporting = small_reporting(services, per_file=CHUNK_BYTES + 10, per_report=CHUNK_BYTES + 10)
    empty = stored_counts(services)

    with pytest.raises(TooLarge):
        reporting.submit(org_a.tenant, NewReport(org_a.category_id, "Huge file"),
                         [upload("dump.zip", os.urandom(3 * CHUNK_BYTES), "application/zip")])
    services.session.rollback()

    assert stored_counts(services) == empty


def test_report_budget_spans_all_files(services: Services, org_a: Org) -> None:
    reporting = small_reporting(services, per_file=1000, per_report=2500)
    empty = stored_counts(services)

    with pytest.raises(TooLarge):
        reporting.submit(org_a.tenant, NewReport(org_a.category_id, "Three files"),
                         [upload("1.pdf", b"a" * 1000), upload("2.pdf", b"b" * 1000), upload("3.pdf", b"c" * 501)])
    services.session.rollback()
    assert stored_counts(services) == empty

    receipt = reporting.submit(org_a.tenant, NewReport(org_a.category_id, "Three files"),
                               [upload("1.pdf", b"a" * 1000), upload("2.pdf", b"b" * 1000), upload("3.pdf", b"c" * 500)])
    services.session.commit()
    sizes = sorted(a.size_bytes for a in reporting.view(org_a.tenant, receipt.case_id, receipt.private_key).report_attachments)
    assert sizes == [500, 1000, 1000]

    with pytest.raises(TooLarge):
        reporting.submit(org_a.tenant, NewReport(org_a.category_id, "Budget spent, then one more"),
                         [upload("1.pdf", b"a" * 1000), upload("2.pdf", b"b" * 1000), upload("3.pdf", b"c" * 500),
                          upload("4.txt", b"", "text/plain")])


def test_reply_attachments_are_limited_too(services: Services, org_a: Org) -> None:
    reporting = small_reporting(services, per_file=1000, per_report=2500)
    receipt = reporting.submit(org_a.tenant, NewReport(org_a.category_id, "First"), [])
    services.session.commit()
    messages_before = count_rows(services.session, "case_messages")

    with pytest.raises(TooLarge):
        reporting.reply(org_a.tenant, receipt.case_id, receipt.private_key, "more", [upload("more.pdf", b"z" * 1001)])
    services.session.rollback()

    assert count_rows(services.session, "case_messages") == messages_before
    assert count_rows(services.session, "attachments") == 0


# --- replies -------------------------------------------------------------------------------------
def test_reporter_reply_with_attachment_round_trips(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    data = os.urandom(5000)
    services.reporting.reply(org_a.tenant, receipt.case_id, receipt.private_key, "Here is the ledger.",
                             [upload("ledger.csv", data, "text/csv")])
    services.session.commit()

    view = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key)

    assert view.report_attachments == ()
    (message,) = view.thread
    assert (message.author, message.body, message.is_feedback) == ("reporter", "Here is the ledger.", False)
    (info,) = message.attachments
    assert info.filename == "ledger.csv"
    assert drain(services.reporting.download(org_a.tenant, receipt.case_id, receipt.private_key, info.id)) == data


def test_empty_reply_is_refused(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    with pytest.raises(InvalidInput):
        services.reporting.reply(org_a.tenant, receipt.case_id, receipt.private_key, "  \r\n ", [])


# --- the recipients are read once per submission -------------------------------------------
@contextlib.contextmanager
def reader_list_reads(services: Services) -> Iterator[list[str]]:
    """The statements that read the reader list while the block runs."""
    seen: list[str] = []
    connection = services.session.connection()

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM reader_list_entries" in statement:
            seen.append(statement)

    sa.event.listen(connection, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(connection, "before_cursor_execute", note)


def test_filing_seals_to_the_recipients_the_form_checked_reading_them_once(services: Services, org_a: Org) -> None:
    with reader_list_reads(services) as reads:
        assert services.reporting.accepting(org_a.tenant)
        filed = services.reporting.file(org_a.tenant, NewReport(org_a.category_id, "Stock sold off the books."), [],
                                         REPORTER)
    assert len(reads) == 1
    assert filed.recipients == [org_a.handler.user_id]


def test_the_checked_recipients_serve_one_filing_only(
        services: Services, org_a: Org, make_reader: ReaderFactory) -> None:
    services.reporting.accepting(org_a.tenant)
    services.reporting.file(org_a.tenant, NewReport(org_a.category_id, "First report."), [], REPORTER)
    newcomer = make_reader(org_a)  # joins the list after the check: the next filing reads it again

    with reader_list_reads(services) as reads:
        filed = services.reporting.file(org_a.tenant, NewReport(org_a.category_id, "Second report."), [], REPORTER)

    assert reads
    assert sorted(filed.recipients) == sorted([org_a.handler.user_id, newcomer.user_id])


def test_recipients_checked_for_one_tenant_never_seal_another_tenants_report(
        services: Services, org_a: Org, org_b: Org) -> None:
    assert services.reporting.accepting(org_a.tenant)
    filed = services.reporting.file(org_b.tenant, NewReport(org_b.category_id, "Beta's report."), [], REPORTER)
    assert filed.recipients == [org_b.handler.user_id]
    # ...and Alpha's check is still the one Alpha's next report is sealed to.
    assert services.reporting.file(org_a.tenant, NewReport(org_a.category_id, "Alpha's report."), [],
                                   REPORTER).recipients == [org_a.handler.user_id]
