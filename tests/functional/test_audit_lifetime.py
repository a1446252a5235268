"""The logbook's lifetime on real databases: pruning leaves a signed checkpoint that
`verify` starts from, tampering before or at the checkpoint is still found, and exports
carry what a reader needs to check them, never personal data."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.chain import canonical, chain_hash, event_fields
from appliance.audit.export import LogbookExport
from appliance.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from appliance.audit.pruning import PruneResult
from appliance.audit.service import Logbook
from appliance.audit.stream import stop_routing, stream_events_to_stdout
from appliance.audit.verify import ChainReport, ChainStart, ChainVerifier, LogbookBroken
from appliance.cli.audit import write_export
from appliance.keys.secrets import checkpoint_key
from appliance.persons.service import PersonDetails
from appliance.services import Services
from tests.functional.conftest import Org, ReportFactory, StaffFactory
from tests.support import FrozenClock

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

DAYS = 10
PER_DAY = 3


def verify(services: Services, batch: int = 5000) -> ChainReport:
    return services.logbook.verify(batch, checkpoint_key=checkpoint_key(services.ctx))


def seqs(services: Services) -> list[int]:
    return list(services.session.execute(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())


def checkpoints(services: Services) -> list[AuditCheckpoint]:
    return list(services.session.execute(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars())


def tamper(services: Services, sql: str, **params: object) -> None:
    result = services.session.execute(sa.text(sql), params)
    assert result.rowcount >= 1  # type: ignore[attr-defined]
    services.session.commit()
    services.session.expire_all()


@pytest.fixture
def start(clock: FrozenClock) -> dt.datetime:
    return clock()


@pytest.fixture
def history(services: Services, clock: FrozenClock, start: dt.datetime) -> list[int]:
    """DAYS days of PER_DAY events each (the clock moves a day after each day), committed."""
    for day in range(DAYS):
        for n in range(PER_DAY):
            services.logbook.record("test.event", CLI, object_type="test", object_id=f"day{day}-{n}")
        services.session.commit()
        clock.advance(days=1)
    return seqs(services)


def prune(services: Services, cutoff: dt.datetime) -> PruneResult:
    result = services.audit_pruner.prune(cutoff)
    services.session.commit()
    return result


def rehash_from(services: Services, first: int) -> None:
    """What an intruder with write access to the database does after editing event ``first``:
    recompute every hash and link from there on and move audit_head, so the chain holds."""
    session = services.session
    prev = session.execute(sa.select(AuditEvent.prev_hash).where(AuditEvent.seq == first)).scalar_one()
    for entry in session.execute(sa.select(AuditEvent).where(AuditEvent.seq >= first)
                                 .order_by(AuditEvent.seq)).scalars().all():
        entry.prev_hash, entry.hash = prev, chain_hash(prev, event_fields(entry))
        prev = entry.hash
        last = entry.seq
    session.execute(sa.update(AuditHead).values(seq=last, hash=prev))
    session.commit()
    session.expunge_all()


# --- pruning ---------------------------------------------------------------------------------------
def test_pruned_logbook_verifies_from_the_checkpoint(services: Services, history: list[int],
                                                     start: dt.datetime) -> None:
    cutoff = start + dt.timedelta(days=4)
    assert services.audit_pruner.preview(cutoff) == 4 * PER_DAY

    result = prune(services, cutoff)

    anchor = 4 * PER_DAY
    assert result == PruneResult(anchor, anchor)
    assert seqs(services) == list(range(anchor + 1, history[-1] + 2))  # the rest, and audit.pruned
    pruned_event = services.session.get_one(AuditEvent, history[-1] + 1)
    assert (pruned_event.action, pruned_event.actor_type, pruned_event.detail) == (
        "audit.pruned", "system", f"events={anchor} through_seq={anchor}")
    [checkpoint] = checkpoints(services)
    assert (checkpoint.seq, checkpoint.head_seq, checkpoint.events_pruned) == (anchor, pruned_event.seq, anchor)
    assert (checkpoint.head_hash, checkpoint.pruned_before) == (pruned_event.hash, cutoff)
    assert checkpoint.hash == services.session.get_one(AuditEvent, anchor + 1).prev_hash

    report = verify(services)
    assert report == ChainReport(True, len(history) - anchor + 1, None, None, anchor + 1, anchor, 1)
    assert verify(services, batch=2).ok
    assert services.audit_pruner.preview(cutoff) == 0


def test_appending_after_a_prune_keeps_the_chain(services: Services, history: list[int], start: dt.datetime,
                                                 org_a: Org) -> None:
    prune(services, start + dt.timedelta(days=4))
    services.tenants.add_category(org_a.tenant.id, "Antitrust", CLI)
    services.session.commit()

    assert verify(services).ok


def test_nothing_old_enough_prunes_nothing(services: Services, history: list[int], start: dt.datetime) -> None:
    assert services.audit_pruner.preview(start) == 0
    assert prune(services, start) == PruneResult(0, None)
    assert seqs(services) == history and checkpoints(services) == []
    assert verify(services) == ChainReport(True, len(history))


def test_a_cutoff_past_every_event_leaves_the_prunes_own_event(
        services: Services, history: list[int], clock: FrozenClock) -> None:
    result = prune(services, clock() + dt.timedelta(days=365))

    assert result == PruneResult(len(history), history[-1])
    assert seqs(services) == [history[-1] + 1]
    assert verify(services).ok
    services.logbook.record("test.after", CLI)
    services.session.commit()
    assert verify(services).ok


def test_pruning_twice_verifies_from_the_newest_checkpoint(
        services: Services, history: list[int], start: dt.datetime, clock: FrozenClock) -> None:
    first = prune(services, start + dt.timedelta(days=3))
    clock.advance(days=1)
    services.logbook.record("test.later", CLI)
    services.session.commit()
    second = prune(services, start + dt.timedelta(days=7))

    assert (first.checkpoint_seq, second.checkpoint_seq) == (3 * PER_DAY, 7 * PER_DAY)
    assert second.events_pruned == 4 * PER_DAY
    report = verify(services)
    assert (report.ok, report.from_seq, report.checkpoint_seq, report.checkpoints) == (True, 7 * PER_DAY + 1,
                                                                                        7 * PER_DAY, 2)


def test_a_prune_in_a_transaction_with_other_events_and_a_rolled_back_one(
        services: Services, history: list[int], start: dt.datetime) -> None:
    services.logbook.record("test.before", CLI)  # holds the chain lock and its head already
    services.audit_pruner.prune(start + dt.timedelta(days=2))
    services.logbook.record("test.after", CLI)
    services.session.commit()
    assert verify(services).ok

    services.audit_pruner.prune(start + dt.timedelta(days=6))
    services.session.rollback()
    assert len(checkpoints(services)) == 1 and seqs(services)[0] == 2 * PER_DAY + 1
    assert verify(services).ok


def test_an_old_stamp_behind_a_newer_event_waits_for_the_next_prune(
        services: Services, history: list[int], start: dt.datetime) -> None:
    # Another host's clock is behind: its event is stamped day 1 but follows day 9's in the chain.
    behind = FrozenClock(start + dt.timedelta(days=1))
    Logbook(services.session, behind).record("test.behind", CLI)
    services.session.commit()

    result = prune(services, start + dt.timedelta(days=5))

    assert result.checkpoint_seq == 5 * PER_DAY  # cut once, before the first event from day 5
    assert services.session.get_one(AuditEvent, history[-1] + 1).action == "test.behind"
    assert verify(services).ok


def test_without_the_checkpoint_key_a_pruned_logbook_is_not_proved(
        services: Services, history: list[int], start: dt.datetime) -> None:
    prune(services, start + dt.timedelta(days=4))

    report = services.logbook.verify()

    assert not report.ok and "checkpoint key" in (report.reason or "")


def links_hold_without_the_signed_head(services: Services, checkpoint: AuditCheckpoint) -> bool:
    """The attack is consistent: only the checkpoint's signed head can give it away."""
    key = checkpoint_key(services.ctx)
    return ChainVerifier(services.session, key).walk(ChainStart(checkpoint.seq, checkpoint.hash)).report.ok


# --- tampering after a prune --------------------------------------------------------------------------
@pytest.fixture
def pruned(services: Services, history: list[int], start: dt.datetime, clock: FrozenClock) -> AuditCheckpoint:
    """Days 0-3 pruned, then a few events after the checkpoint's head."""
    prune(services, start + dt.timedelta(days=4))
    for n in range(3):
        services.logbook.record("test.after", CLI, object_id=f"after-{n}")
    services.session.commit()
    [checkpoint] = checkpoints(services)
    services.session.expunge(checkpoint)
    return checkpoint


def test_an_edit_before_the_checkpoint_head_is_found(services: Services, pruned: AuditCheckpoint) -> None:
    victim = pruned.seq + 2
    assert victim < pruned.head_seq
    tamper(services, "UPDATE audit_events SET detail = 'nothing here' WHERE seq = :s", s=victim)

    report = verify(services)

    assert (report.ok, report.broken_seq, report.reason, report.events) == (False, victim, "event content changed", 1)


def test_an_edit_rehashed_to_the_end_is_found_at_the_signed_head(services: Services, pruned: AuditCheckpoint) -> None:
    victim = pruned.seq + 2
    tamper(services, "UPDATE audit_events SET detail = 'nothing here' WHERE seq = :s", s=victim)
    rehash_from(services, victim)
    assert links_hold_without_the_signed_head(services, pruned)

    report = verify(services)

    assert (report.ok, report.broken_seq) == (False, pruned.head_seq)
    assert "signed checkpoint" in (report.reason or "")


def test_a_rehashed_first_kept_event_breaks_the_link_to_the_anchor(
        services: Services, pruned: AuditCheckpoint) -> None:
    first = pruned.seq + 1
    tamper(services, "UPDATE audit_events SET detail = 'x', prev_hash = :h WHERE seq = :s", h=bytes(32), s=first)
    rehash_from(services, first)

    report = verify(services)

    assert (report.ok, report.broken_seq, report.reason) == (False, first, "link to previous event broken")


@pytest.mark.parametrize("position", ["first", "middle", "head"])
def test_a_deleted_kept_event_is_found(services: Services, pruned: AuditCheckpoint, position: str) -> None:
    victim = {"first": pruned.seq + 1, "middle": pruned.seq + 3, "head": pruned.head_seq}[position]
    tamper(services, "DELETE FROM audit_events WHERE seq = :s", s=victim)

    report = verify(services)

    assert (report.ok, report.broken_seq, report.reason) == (False, victim, "event missing")


def test_a_tail_cut_back_before_the_signed_head_is_found(services: Services, pruned: AuditCheckpoint) -> None:
    # Delete everything from the middle on and move audit_head back: the chain alone holds.
    keep = pruned.seq + 3
    new_head = services.session.get_one(AuditEvent, keep).hash
    tamper(services, "DELETE FROM audit_events WHERE seq > :s", s=keep)
    tamper(services, "UPDATE audit_head SET seq = :s, hash = :h", s=keep, h=new_head)
    assert links_hold_without_the_signed_head(services, pruned)

    report = verify(services)

    assert (report.ok, report.broken_seq, report.reason) == (False, keep + 1, "event missing")


@pytest.mark.parametrize(("column", "value"), [
    ("seq", 5), ("hash", bytes(32)), ("head_seq", 99), ("head_hash", bytes(32)), ("events_pruned", 1),
    ("pruned_before", dt.datetime(2026, 3, 1, 0, 0)), ("created_at", dt.datetime(2026, 3, 1, 0, 0)),
    ("signature", bytes(32)),
])
def test_an_edited_checkpoint_is_found(services: Services, pruned: AuditCheckpoint, column: str,
                                       value: object) -> None:
    tamper(services, f"UPDATE audit_checkpoints SET {column} = :v", v=value)

    report = verify(services)

    assert not report.ok and "checkpoint forged or edited" in (report.reason or "")


def test_a_deleted_checkpoint_is_found(services: Services, pruned: AuditCheckpoint) -> None:
    tamper(services, "DELETE FROM audit_checkpoints")

    report = verify(services)

    assert (report.ok, report.broken_seq, report.reason, report.from_seq) == (False, 1, "event missing", 1)


def test_an_older_checkpoint_is_checked_too(services: Services, pruned: AuditCheckpoint, start: dt.datetime) -> None:
    prune(services, start + dt.timedelta(days=6))
    tamper(services, "UPDATE audit_checkpoints SET events_pruned = 0 WHERE seq = :s", s=pruned.seq)

    report = verify(services)

    assert (report.ok, report.broken_seq) == (False, pruned.seq)


def test_dropping_the_newest_checkpoint_is_found(services: Services, pruned: AuditCheckpoint,
                                                 start: dt.datetime) -> None:
    second = prune(services, start + dt.timedelta(days=6))
    tamper(services, "DELETE FROM audit_checkpoints WHERE seq = :s", s=second.checkpoint_seq)

    report = verify(services)

    assert (report.ok, report.broken_seq, report.reason) == (False, pruned.seq + 1, "event missing")


def test_prune_refuses_to_sign_over_a_broken_chain(services: Services, history: list[int],
                                                   start: dt.datetime) -> None:
    tamper(services, "UPDATE audit_events SET detail = 'edited' WHERE seq = 2")

    with pytest.raises(LogbookBroken) as refused:
        services.audit_pruner.prune(start + dt.timedelta(days=4))
    services.session.rollback()

    assert refused.value.report.broken_seq == 2 and "logbook broken at event 2" in str(refused.value)
    assert seqs(services) == history and checkpoints(services) == []


def test_prune_refuses_over_a_rewritten_kept_part(services: Services, pruned: AuditCheckpoint,
                                                  start: dt.datetime) -> None:
    # The next prune cuts before the checkpoint's head: it must still check the head first,
    # or its new checkpoint would bless the rewritten events.
    tamper(services, "UPDATE audit_events SET detail = 'x' WHERE seq = :s", s=pruned.seq + 2)
    rehash_from(services, pruned.seq + 2)

    with pytest.raises(LogbookBroken):
        services.audit_pruner.prune(start + dt.timedelta(days=5))
    services.session.rollback()
    with pytest.raises(LogbookBroken):
        services.audit_pruner.prune(start + dt.timedelta(days=8))
    services.session.rollback()


def test_prune_refuses_with_a_forged_checkpoint(services: Services, pruned: AuditCheckpoint,
                                                start: dt.datetime) -> None:
    tamper(services, "UPDATE audit_checkpoints SET events_pruned = 0")

    with pytest.raises(LogbookBroken):
        services.audit_pruner.prune(start + dt.timedelta(days=6))


# --- export ------------------------------------------------------------------------------------------
def export_lines(services: Services, since: dt.datetime, until: dt.datetime | None = None,
                 fmt: str = "jsonl") -> list[bytes]:
    exporter = LogbookExport(services.session)
    out = io.StringIO()
    write_export(out, exporter.plan(since, until), exporter, fmt, None)
    return out.getvalue().encode().splitlines()


def check_export(lines: list[bytes]) -> dict[str, object]:
    """What a reader does with an export, using nothing of the appliance's code."""
    header = json.loads(lines[0])
    digest = bytes.fromhex(header["anchor_hash"])
    for number, line in enumerate(lines[1:], start=header["anchor_seq"] + 1):
        assert json.loads(line)["seq"] == number
        digest = hashlib.sha256(digest + line).digest()
    assert digest.hex() == header["last_hash"] and header["events"] == len(lines) - 1
    return dict(header)


def test_export_since_gives_exactly_the_events_from_then(services: Services, history: list[int],
                                                         start: dt.datetime) -> None:
    since = start + dt.timedelta(days=3)

    lines = export_lines(services, since)

    header = check_export(lines)
    rows = services.session.execute(sa.select(AuditEvent).where(AuditEvent.occurred_at >= since)
                                    .order_by(AuditEvent.seq)).scalars().all()
    assert [canonical(event_fields(e)) for e in rows] == lines[1:]
    assert (header["first_seq"], header["last_seq"], header["checkpoint"]) == (3 * PER_DAY + 1, history[-1], None)


def test_export_until_stops_before_it(services: Services, history: list[int], start: dt.datetime) -> None:
    lines = export_lines(services, start + dt.timedelta(days=3), start + dt.timedelta(days=5))

    assert [json.loads(line)["seq"] for line in lines[1:]] == list(range(3 * PER_DAY + 1, 5 * PER_DAY + 1))
    check_export(lines)


def test_export_of_an_empty_range_is_a_header_only(services: Services, history: list[int],
                                                   clock: FrozenClock) -> None:
    [header] = export_lines(services, clock() + dt.timedelta(days=1))

    assert json.loads(header)["events"] == 0 and json.loads(header)["first_seq"] is None


def test_export_after_a_prune_names_the_checkpoint(services: Services, pruned: AuditCheckpoint,
                                                   start: dt.datetime) -> None:
    lines = export_lines(services, start)

    header = check_export(lines)
    assert header["anchor_seq"] == pruned.seq and header["anchor_hash"] == pruned.hash.hex()
    assert header["checkpoint"] == {"anchor_seq": pruned.seq, "anchor_hash": pruned.hash.hex(),
                                    "head_seq": pruned.head_seq, "head_hash": pruned.head_hash.hex(),
                                    "pruned_before": (start + dt.timedelta(days=4)).isoformat(),
                                    "events_pruned": pruned.events_pruned, "created_at": pruned.created_at.isoformat()}


def test_export_as_one_json_document(services: Services, history: list[int], start: dt.datetime) -> None:
    document = json.loads(b"\n".join(export_lines(services, start, fmt="json")))

    assert document["export"]["events"] == len(history) == len(document["events"])
    assert [canonical(e) for e in document["events"]] == export_lines(services, start)[1:]


# --- no personal data ------------------------------------------------------------------------------
MARKERS = ("Mklife-person-4a1c", "mklife-contact-77d0", "Mklife-what-0b9e", "mklife-staff-e2f3",
           "Mklife-subject-5c8e", "mklife-subject-mail-19ab", "MKLIFE19ID")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    stream_events_to_stdout(buffer)
    yield buffer
    stop_routing()


def test_markers_never_reach_an_export_or_the_stream(
        services: Services, org_a: Org, file_report: ReportFactory, make_staff: StaffFactory,
        stream: io.StringIO, start: dt.datetime) -> None:
    make_staff((org_a.tenant, Role.ADMIN), email=f"{MARKERS[3]}@example.com")
    receipt = file_report(org_a, what=MARKERS[2], people=MARKERS[0], contact=f"{MARKERS[1]}@example.org")
    services.cases.open_case(org_a.handler, receipt.case_id)
    services.case_subjects.add(org_a.handler, receipt.case_id, PersonDetails(
        MARKERS[4], f"{MARKERS[5]}@example.net", MARKERS[6]), "concerned")
    services.session.commit()

    exported = b"\n".join(export_lines(services, start)).decode().lower()
    streamed = stream.getvalue().lower()

    assert "case.created" in exported and "case.created" in streamed
    assert "person" in exported and "person" in streamed  # the subject's events are there, by id
    for marker in (*MARKERS, "example.com", "example.org", "example.net"):
        assert marker.lower() not in exported and marker.lower() not in streamed
