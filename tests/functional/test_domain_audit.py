"""The logbook on real databases: the hash chain catches edits and deletions; the journal
(the `appliance.audit` logger and the JSON-lines stream behind it) shows exactly the
committed events."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.audit.service import canonical, event_fields
from appliance.audit.stream import (
    AUDIT_LOGGER,
    EventStreamHandler,
    JournalHandler,
    stop_routing,
    stream_events_to_journal,
    stream_events_to_stdout,
)
from appliance.context import AppContext
from appliance.errors import AuthenticationFailed, InvalidInput
from appliance.services import Services
from tests.functional.conftest import STAFF_PASSWORD, Org, ReportFactory, ServicesOpener, StaffFactory, upload
from tests.support import FrozenClock

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

MARKERS = ("Mkaudit-what-51f0", "Mkaudit-note-9c2e", "Mkaudit-msg-77ab", "mkaudit-contact-3d1a", "Mkaudit-file-0e4b")


@pytest.fixture
def flow(services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock) -> uuid.UUID:
    """A typical case's life, committed; returns the case id."""
    receipt = file_report(org_a, what=MARKERS[0], contact=f"{MARKERS[3]}@example.org",
                          uploads=[upload(f"{MARKERS[4]}.pdf", MARKERS[4].encode())])
    clock.advance(hours=1)
    services.cases.change_status(org_a.handler, receipt.case_id, "acknowledged")
    services.cases.add_note(org_a.handler, receipt.case_id, MARKERS[1])
    services.cases.post_message(org_a.handler, receipt.case_id, MARKERS[2], [], is_feedback=True)
    services.reporting.open_with_key(org_a.tenant, receipt.case_key, "client")
    with pytest.raises(AuthenticationFailed):
        services.users.authenticate_password("nobody@example.com", STAFF_PASSWORD, "client")
    services.session.commit()
    return receipt.case_id


def seqs(services: Services) -> list[int]:
    return list(services.session.execute(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())


def tamper(services: Services, sql: str, **params: object) -> None:
    result = services.session.execute(sa.text(sql), params)
    assert result.rowcount == 1  # type: ignore[attr-defined]
    services.session.commit()
    services.session.expire_all()


# --- the chain -------------------------------------------------------------------------------------
def test_chain_verifies_after_a_flow(services: Services, flow: uuid.UUID) -> None:
    report = services.logbook.verify()
    assert report.ok and report.broken_seq is None
    assert report.events == len(seqs(services)) > 10
    assert seqs(services) == list(range(1, report.events + 1))


def test_chain_verifies_in_small_batches(services: Services, flow: uuid.UUID) -> None:
    assert services.logbook.verify(batch=3).ok


@pytest.mark.parametrize(("column", "value"), [
    ("detail", "received->closed"),
    ("action", "case.viewed"),
    ("object_id", str(uuid.UUID(int=7))),
    ("actor_type", "system"),
])
def test_edited_event_is_found(services: Services, flow: uuid.UUID, column: str, value: str) -> None:
    victim = seqs(services)[len(seqs(services)) // 2]
    tamper(services, f"UPDATE audit_events SET {column} = :v WHERE seq = :s", v=value, s=victim)

    report = services.logbook.verify()

    assert (report.ok, report.broken_seq, report.reason) == (False, victim, "event content changed")
    assert report.events == victim - 1


def test_backdated_event_is_found(services: Services, flow: uuid.UUID, clock: FrozenClock) -> None:
    victim = seqs(services)[3]
    backdated = (clock() - clock().resolution * 10**9).replace(tzinfo=None)
    tamper(services, "UPDATE audit_events SET occurred_at = :t WHERE seq = :s", t=backdated, s=victim)

    report = services.logbook.verify()

    assert (report.ok, report.broken_seq) == (False, victim)


def test_event_rehashed_after_editing_breaks_the_next_link(services: Services, flow: uuid.UUID) -> None:
    victim = seqs(services)[2]
    event = services.session.get(AuditEvent, victim)
    assert event is not None
    fields = event_fields(event) | {"detail": "nothing to see"}
    rehashed = hashlib.sha256(event.prev_hash + canonical(fields)).digest()
    services.session.expunge(event)
    tamper(services, "UPDATE audit_events SET detail = :d, hash = :h WHERE seq = :s",
           d="nothing to see", h=rehashed, s=victim)

    report = services.logbook.verify()

    assert (report.ok, report.broken_seq, report.reason) == (False, victim + 1, "link to previous event broken")


def test_deleted_event_is_reported_missing(services: Services, flow: uuid.UUID) -> None:
    victim = seqs(services)[4]
    tamper(services, "DELETE FROM audit_events WHERE seq = :s", s=victim)

    report = services.logbook.verify()

    assert (report.ok, report.broken_seq, report.reason) == (False, victim, "event missing")


def test_deleted_last_event_is_found_through_the_head(services: Services, flow: uuid.UUID) -> None:
    victim = seqs(services)[-1]
    tamper(services, "DELETE FROM audit_events WHERE seq = :s", s=victim)

    report = services.logbook.verify()

    assert (report.ok, report.broken_seq) == (False, victim)


def test_deleted_first_event_is_reported_missing(services: Services, flow: uuid.UUID) -> None:
    tamper(services, "DELETE FROM audit_events WHERE seq = :s", s=1)

    report = services.logbook.verify()

    assert (report.ok, report.broken_seq, report.reason) == (False, 1, "event missing")


def test_appending_after_tampering_does_not_heal_the_chain(services: Services, flow: uuid.UUID, org_a: Org) -> None:
    victim = seqs(services)[1]
    tamper(services, "UPDATE audit_events SET detail = :v WHERE seq = :s", v="edited", s=victim)
    services.tenants.add_category(org_a.tenant.id, "Antitrust", CLI)
    services.session.commit()

    assert services.logbook.verify().broken_seq == victim


def test_logbook_never_holds_report_content_or_addresses(
        services: Services, flow: uuid.UUID, make_staff: StaffFactory) -> None:
    make_staff((services.tenants.by_slug("alpha"), Role.ADMIN), email="Mkaudit-admin@example.com")
    events = services.session.execute(sa.select(AuditEvent)).scalars().all()
    text = json.dumps([event_fields(e) for e in events]).lower()

    for marker in (*MARKERS, "Mkaudit-admin", "example.com", "example.org"):
        assert marker.lower() not in text


def test_events_name_who_did_what_to_which_object(services: Services, flow: uuid.UUID, org_a: Org) -> None:
    events = services.session.execute(sa.select(AuditEvent).where(AuditEvent.object_id == str(flow))
                                      .order_by(AuditEvent.seq)).scalars().all()
    by_action = {e.action: e for e in events}
    assert by_action["case.created"].actor_type == "reporter" and by_action["case.created"].actor_id is None
    assert by_action["case.status_changed"].actor_id == str(org_a.handler.user_id)
    assert by_action["note.added"].tenant_id == org_a.tenant.id
    assert {"case.created", "case.status_changed", "note.added", "message.sent", "case_key.accepted",
            "case_key.unsealed"} <= set(by_action)


# --- the journal ------------------------------------------------------------------------------------
@pytest.fixture
def journal(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="appliance.audit")
    yield caplog


def journal_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "appliance.audit"]


def test_journal_has_one_line_per_committed_event(
        journal: pytest.LogCaptureFixture, services: Services, org_a: Org, file_report: ReportFactory) -> None:
    journal.clear()
    first_new = seqs(services)[-1] + 1
    receipt = file_report(org_a, uploads=[upload("a.pdf", b"x")])  # commits
    after_submit = journal_lines(journal)
    assert [line["seq"] for line in after_submit] == list(range(first_new, seqs(services)[-1] + 1))

    services.cases.open_case(org_a.handler, receipt.case_id)
    assert journal_lines(journal) == after_submit  # not committed yet: not in the journal
    services.session.commit()

    lines = journal_lines(journal)
    rows = services.session.execute(sa.select(AuditEvent).where(AuditEvent.seq >= first_new)
                                    .order_by(AuditEvent.seq)).scalars().all()
    assert len(lines) == len(rows) > len(after_submit)
    assert lines == [event_fields(e) for e in rows]
    assert [r.getMessage() for r in journal.records] == [canonical(event_fields(e)).decode() for e in rows]
    assert all("\n" not in r.getMessage() for r in journal.records)


def test_journal_shows_nothing_for_a_rolled_back_transaction(
        journal: pytest.LogCaptureFixture, services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    journal.clear()

    services.cases.open_case(org_a.handler, receipt.case_id)
    services.cases.add_note(org_a.handler, receipt.case_id, "rolled back")
    services.session.rollback()
    assert journal_lines(journal) == []

    with pytest.raises(InvalidInput):  # a failing operation after some events, then rollback
        services.cases.change_status(org_a.handler, receipt.case_id, "closed")
    services.cases.add_note(org_a.handler, receipt.case_id, "also rolled back")
    services.session.rollback()
    services.session.commit()
    assert journal_lines(journal) == []

    services.cases.add_note(org_a.handler, receipt.case_id, "kept")
    services.session.commit()
    assert [line["action"] for line in journal_lines(journal)] == ["case_key.unsealed", "note.added"]
    assert services.logbook.verify().ok


@pytest.mark.fresh_database
def test_journal_shows_nothing_for_a_session_closed_without_commit(
        journal: pytest.LogCaptureFixture, ctx: AppContext, services: Services, org_a: Org,
        file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    services.session.rollback()
    journal.clear()

    session = ctx.sessions()
    try:
        Services(ctx, session).cases.add_note(org_a.handler, receipt.case_id, "abandoned")
        session.close()  # e.g. a request torn down after an error, without an explicit rollback
        assert journal_lines(journal) == []

        reused = Services(ctx, session)  # a closed Session may be used again
        reused.cases.add_note(org_a.handler, receipt.case_id, "kept")
        session.commit()
    finally:
        session.close()

    lines = journal_lines(journal)
    assert [line["action"] for line in lines] == ["case_key.unsealed", "note.added"]
    assert len({line["seq"] for line in lines}) == 2
    assert services.logbook.verify().ok


@pytest.mark.fresh_database
def test_journal_shows_nothing_for_a_failed_unit_of_work(
        journal: pytest.LogCaptureFixture, ctx: AppContext, services: Services, org_a: Org,
        file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    services.session.rollback()
    journal.clear()

    with pytest.raises(InvalidInput), ctx.unit_of_work() as session:
        work = Services(ctx, session)
        work.cases.add_note(org_a.handler, receipt.case_id, "first")
        work.cases.change_status(org_a.handler, receipt.case_id, "closed")
    assert journal_lines(journal) == []

    with ctx.unit_of_work() as session:
        Services(ctx, session).cases.add_note(org_a.handler, receipt.case_id, "second")
    assert [line["action"] for line in journal_lines(journal)][-1] == "note.added"


@pytest.mark.fresh_database
def test_verify_leaves_the_callers_objects_alone(
        services: Services, flow: uuid.UUID, org_a: Org, other_services: ServicesOpener) -> None:
    # An admin page may verify the logbook and change something else in the same request.
    category = services.tenants.category(org_a.tenant.id, org_a.other_category_id)
    assert services.logbook.verify().ok
    category.active = False
    services.session.commit()

    with other_services() as fresh:
        assert fresh.tenants.category(org_a.tenant.id, org_a.other_category_id).active is False


def test_a_rolled_back_savepoint_does_not_break_the_chain(services: Services,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The chain head is remembered within a transaction; a savepoint rollback must forget it,
    and the journal must not show the event that rolled back."""
    caplog.set_level(logging.INFO, logger="appliance.audit")
    services.logbook.record("test.before", CLI)
    savepoint = services.session.begin_nested()
    services.logbook.record("test.inside", CLI)
    savepoint.rollback()
    services.logbook.record("test.after", CLI)
    services.session.commit()
    actions = services.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).scalars().all()
    assert actions[-2:] == ["test.before", "test.after"]
    assert services.logbook.verify().ok
    journal = [json.loads(r.getMessage())["action"] for r in caplog.records if r.name == "appliance.audit"]
    assert journal[-2:] == ["test.before", "test.after"] and "test.inside" not in journal


# --- the JSON-lines stream (stdout for services, journald for one-shot commands) ---------------------
@pytest.fixture
def stdout_stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    stream_events_to_stdout(buffer)
    yield buffer
    stop_routing()


@pytest.fixture
def root_text() -> Iterator[io.StringIO]:
    """What a handler on the root logger (basicConfig's, at INFO) would print."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield text
    root.removeHandler(handler)
    root.setLevel(level)


def streamed(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_stream_has_one_bare_json_line_per_committed_event(
        services: Services, org_a: Org, stdout_stream: io.StringIO, root_text: io.StringIO) -> None:
    stream_events_to_stdout(stdout_stream)  # a second call replaces the route, never doubles it
    first_new = seqs(services)[-1] + 1

    services.tenants.add_category(org_a.tenant.id, "Antitrust", CLI)
    services.tenants.add_category(org_a.tenant.id, "Bribery", CLI)
    assert streamed(stdout_stream) == []  # not committed yet
    services.session.commit()

    rows = services.session.execute(sa.select(AuditEvent).where(AuditEvent.seq >= first_new)
                                    .order_by(AuditEvent.seq)).scalars().all()
    assert len(rows) >= 2
    assert streamed(stdout_stream) == [canonical(event_fields(e)).decode() for e in rows]
    assert all(json.loads(line)["seq"] for line in streamed(stdout_stream))
    assert root_text.getvalue() == ""  # only there: the root logger does not repeat it with a prefix


def test_stream_shows_nothing_for_a_rolled_back_event(
        services: Services, org_a: Org, stdout_stream: io.StringIO) -> None:
    services.tenants.add_category(org_a.tenant.id, "Antitrust", CLI)
    services.session.rollback()
    savepoint = services.session.begin_nested()
    services.tenants.add_category(org_a.tenant.id, "Bribery", CLI)
    savepoint.rollback()
    services.session.commit()
    assert streamed(stdout_stream) == []

    services.tenants.add_category(org_a.tenant.id, "Fraud", CLI)
    services.session.commit()
    assert len(streamed(stdout_stream)) >= 1 and "Bribery" not in stdout_stream.getvalue()
    assert services.logbook.verify().ok


@pytest.fixture
def journal_socket() -> Iterator[tuple[Path, socket.socket]]:
    """A datagram socket standing in for /run/systemd/journal/socket (a short path: AF_UNIX)."""
    with tempfile.TemporaryDirectory(prefix="journal") as directory:
        path = Path(directory) / "socket"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(str(path))
        server.setblocking(False)
        try:
            yield path, server
        finally:
            stop_routing()
            server.close()


def journal_entries(server: socket.socket) -> list[dict[str, str]]:
    entries = []
    while True:
        try:
            datagram = server.recv(65536)
        except BlockingIOError:
            return entries
        entries.append(dict(line.split("=", 1) for line in datagram.decode().splitlines()))


def test_journal_socket_gets_one_entry_per_committed_event(
        services: Services, org_a: Org, journal_socket: tuple[Path, socket.socket]) -> None:
    path, server = journal_socket
    assert stream_events_to_journal(path) is not None

    services.tenants.add_category(org_a.tenant.id, "Antitrust", CLI)
    services.session.rollback()
    assert journal_entries(server) == []
    services.tenants.add_category(org_a.tenant.id, "Fraud", CLI)
    services.session.commit()

    entries = journal_entries(server)
    last = services.session.get_one(AuditEvent, seqs(services)[-1])
    assert entries[-1] == {"MESSAGE": canonical(event_fields(last)).decode(), "PRIORITY": "6",
                           "SYSLOG_IDENTIFIER": "appliance"}
    assert all(json.loads(e["MESSAGE"]) for e in entries)

    path.unlink()  # journald gone: the command goes on, silently
    services.tenants.add_category(org_a.tenant.id, "Bribery", CLI)
    services.session.commit()
    assert services.logbook.verify().ok


def test_without_a_journal_socket_one_shot_commands_send_no_copy(tmp_path: Path) -> None:
    assert stream_events_to_journal(tmp_path / "no-socket") is None
    assert not [h for h in logging.getLogger(AUDIT_LOGGER).handlers if isinstance(h, EventStreamHandler | JournalHandler)]
