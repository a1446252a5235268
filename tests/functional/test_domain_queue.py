"""The handler's queue at scale on real databases: keyset pages, every filter in SQL, the SQL
"overdue" agreeing with the Python deadlines, cursors that cannot be forged, saved searches."""

from __future__ import annotations

import datetime as dt
import importlib
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.cases.deadlines import NO_DEADLINE, deadlines_for
from appliance.cases.models import Case, SavedQueueFilter
from appliance.cases.queue_filter import QueueFilter, QueueSort
from appliance.errors import InvalidInput, NotFound
from appliance.services import Services
from tests.functional.conftest import Org, ReaderFactory, ReportFactory, StaffFactory
from tests.functional.queue_support import all_pages, insert_cases
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session

DAY = dt.timedelta(days=1)
SORTS = [(sort, descending) for sort in QueueSort for descending in (None, True, False)]


def ids(pages: list[list[object]]) -> list[uuid.UUID]:
    return [row.id for page in pages for row in page]  # type: ignore[attr-defined]


@pytest.fixture
def big_queue(services: Services, clock: FrozenClock, org_a: Org) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """1,200 cases of org A, 700 of them overdue (both deadlines, month ends), 500 not; returns
    (all ids, overdue ids)."""
    now = clock()
    overdue_specs = (
        [(now - (8 + i % 300) * DAY, None, None, "received") for i in range(300)]  # never acknowledged
        + [(now - (120 + i) * DAY, now - (113 + i) * DAY, None, "investigating") for i in range(250)]  # no feedback
        + [(now - (8 + i) * DAY, None, now - DAY, "received") for i in range(150)])  # answered, not acknowledged
    fine_specs = (
        [(now - (i % 6) * DAY, None, None, "received") for i in range(200)]  # within 7 days
        + [(now - (30 + i % 50) * DAY, now - (25 + i % 50) * DAY, None, "assessing") for i in range(150)]
        + [(now - (200 + i) * DAY, now - (195 + i) * DAY, now - (150 + i) * DAY, "investigating") for i in range(50)]
        + [(now - (400 + i) * DAY, None, None, "closed") for i in range(100)])  # closed: never overdue
    overdue = set(insert_cases(services, org_a.tenant.id, org_a.category_id, overdue_specs))
    fine = set(insert_cases(services, org_a.tenant.id, org_a.category_id, fine_specs))
    assert len(overdue) == 700 and len(overdue | fine) == 1200
    return overdue | fine, overdue


@pytest.mark.parametrize(("sort", "descending"), SORTS)
def test_every_overdue_case_is_reachable_through_the_pages(
        services: Services, org_a: Org, big_queue: tuple[set[uuid.UUID], set[uuid.UUID]],
        sort: QueueSort, descending: bool | None) -> None:
    everything, overdue = big_queue
    filters = QueueFilter(overdue_only=True, sort=sort, descending=descending)

    pages = all_pages(services, org_a.handler, filters, page_size=50)
    seen = ids(pages)

    assert len(seen) == len(set(seen)) == 700 and set(seen) == overdue
    assert all(len(page) == 50 for page in pages[:-1])
    assert all(row.deadlines.overdue for page in pages for row in page)
    every = ids(all_pages(services, org_a.handler, QueueFilter(sort=sort, descending=descending), page_size=200))
    assert len(every) == len(set(every)) == 1200 and set(every) == everything


def test_previous_links_walk_back_over_the_same_pages(
        services: Services, org_a: Org, big_queue: tuple[set[uuid.UUID], set[uuid.UUID]]) -> None:
    filters = QueueFilter(overdue_only=True, sort=QueueSort.DEADLINE)
    forwards = []
    cursor = None
    while True:
        page = services.cases.queue_page(org_a.handler, filters, cursor, 70)
        forwards.append([row.id for row in page.rows])
        if page.next_cursor is None:
            last = page
            break
        cursor = page.next_cursor
    assert last.previous_cursor is not None
    backwards = [[row.id for row in rows]
                 for rows in all_pages(services, org_a.handler, filters, 70, backwards_from=last.previous_cursor)]
    assert backwards == list(reversed(forwards[:-1]))
    first = services.cases.queue_page(org_a.handler, filters, None, 70)
    assert first.previous_cursor is None


@pytest.mark.parametrize("sort", list(QueueSort))
def test_pages_never_repeat_or_skip_a_case_while_reports_arrive(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory, sort: QueueSort,
        big_queue: tuple[set[uuid.UUID], set[uuid.UUID]]) -> None:
    everything, _ = big_queue
    filters = QueueFilter(sort=sort)
    seen: list[uuid.UUID] = []
    arrived = set()
    cursor = None
    while True:
        page = services.cases.queue_page(org_a.handler, filters, cursor, 100)
        seen += [row.id for row in page.rows]
        clock.advance(minutes=1)
        arrived.add(file_report(org_a).case_id)  # a new report between two pages
        arrived |= set(insert_cases(services, org_a.tenant.id, org_a.category_id,
                                    [(clock() - 9 * DAY, None, None, "received")]))  # and one overdue at once
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))  # never twice
    assert everything <= set(seen)  # never skipped
    assert set(seen) - everything <= arrived


EDGE_NOW = dt.datetime(2028, 5, 31, 12, 0, tzinfo=dt.UTC)


def edge_specs() -> list[tuple[dt.datetime, dt.datetime | None, dt.datetime | None, str]]:
    """Cases on the edges of both deadlines, around EDGE_NOW: exactly at a deadline, a
    microsecond either side, month ends (31 Jan + 3 months = 30 Apr; 30 Nov + 3 months = 29 Feb
    in a leap year), feedback before acknowledgement, closed cases past both deadlines."""
    tick = dt.timedelta(microseconds=1)
    ack_due_now = EDGE_NOW - 7 * DAY
    specs: list[tuple[dt.datetime, dt.datetime | None, dt.datetime | None, str]] = []
    for delta in (-tick, dt.timedelta(0), tick):
        specs.append((ack_due_now + delta, None, None, "received"))
        specs.append((ack_due_now + delta, None, EDGE_NOW - DAY, "received"))
        specs.append((ack_due_now + delta, None, None, "closed"))
    # feedback due 3 calendar months after acknowledgement, clamped at month ends
    for acknowledged in (dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC), dt.datetime(2028, 2, 28, 12, tzinfo=dt.UTC),
                         dt.datetime(2028, 1, 31, 12, tzinfo=dt.UTC), dt.datetime(2027, 11, 30, 12, tzinfo=dt.UTC),
                         dt.datetime(2028, 2, 29, 12, 0, 0, 1, tzinfo=dt.UTC),
                         dt.datetime(2028, 2, 29, 11, 59, 59, 999999, tzinfo=dt.UTC)):
        for status in ("acknowledged", "investigating", "closed"):
            specs.append((acknowledged - 3 * DAY, acknowledged, None, status))
            specs.append((acknowledged - 3 * DAY, acknowledged, acknowledged + DAY, status))
    # never acknowledged: feedback due 3 months after the end of the 7 days
    for received in (dt.datetime(2028, 1, 24, 12, tzinfo=dt.UTC), dt.datetime(2028, 2, 22, 12, tzinfo=dt.UTC),
                     dt.datetime(2027, 11, 23, 12, tzinfo=dt.UTC)):
        specs.append((received, None, None, "received"))
        specs.append((received, None, received + DAY, "received"))
    return specs


@pytest.mark.parametrize("offset_s", [-86_400 * 40, -1, 0, 1, 86_400 * 400])
def test_sql_overdue_gives_exactly_the_python_deadlines_answer(
        services: Services, clock: FrozenClock, org_a: Org, offset_s: int) -> None:
    specs = edge_specs()
    case_ids = insert_cases(services, org_a.tenant.id, org_a.category_id, specs)
    for now in (EDGE_NOW + dt.timedelta(seconds=offset_s), dt.datetime(2028, 5, 29, 12, tzinfo=dt.UTC),
                dt.datetime(2028, 4, 30, 12, tzinfo=dt.UTC), dt.datetime(2028, 3, 1, 12, tzinfo=dt.UTC)):
        clock.now = now
        expected = {case_id for case_id, (received, acknowledged, feedback, status) in zip(case_ids, specs, strict=True)
                    if deadlines_for(received, acknowledged, feedback, status == "closed", now).overdue}
        found = set(ids(all_pages(services, org_a.handler, QueueFilter(overdue_only=True), 200)))
        assert found == expected, now
        assert expected  # the edges are not all on one side


def test_the_workflow_keeps_next_due_at(services: Services, clock: FrozenClock, org_a: Org,
                                        file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    case = services.session.get(Case, receipt.case_id)
    assert case is not None and case.next_due_at == case.received_at + 7 * DAY and case.status_rank == 0
    clock.advance(days=2)
    services.cases.change_status(org_a.handler, receipt.case_id, "acknowledged")
    services.session.flush()
    assert case.next_due_at == dt.datetime(2026, 6, 4, 9, 0, tzinfo=dt.UTC) and case.status_rank == 1
    services.cases.post_message(org_a.handler, receipt.case_id, "Feedback.", [], is_feedback=True)
    services.session.flush()
    assert case.next_due_at == NO_DEADLINE


def test_the_migration_backfills_what_the_model_writes(
        services: Services, clock: FrozenClock, org_a: Org) -> None:
    specs = edge_specs()
    case_ids = insert_cases(services, org_a.tenant.id, org_a.category_id, specs)
    expected = dict(services.session.execute(sa.select(Case.id, Case.next_due_at).where(Case.id.in_(case_ids))).all())
    services.session.execute(sa.update(Case).values(next_due_at=None, status_rank=None))
    migration = importlib.import_module("appliance.migrations.versions.0018_queue_deadlines")

    migration.backfill(services.session.connection())

    services.session.expire_all()
    found = dict(services.session.execute(sa.select(Case.id, Case.next_due_at).where(Case.id.in_(case_ids))).all())
    assert found == expected
    assert services.session.execute(sa.select(sa.func.count()).where(Case.status_rank.is_(None))).scalar_one() == 0


def test_sorting_by_status_follows_the_flow(services: Services, clock: FrozenClock, org_a: Org) -> None:
    now = clock()
    insert_cases(services, org_a.tenant.id, org_a.category_id,
                 [(now - i * DAY, None, None, status) for i, status in enumerate(
                     ["closed", "investigating", "received", "assessing", "acknowledged"] * 3)])
    rows = services.cases.queue(org_a.handler, QueueFilter(sort=QueueSort.STATUS))
    assert [r.status for r in rows] == ["received"] * 3 + ["acknowledged"] * 3 + ["assessing"] * 3 + [
        "investigating"] * 3 + ["closed"] * 3
    assert [r.received_at for r in rows[:3]] == sorted(r.received_at for r in rows[:3])


def test_search_by_reference_whole_or_beginning(services: Services, org_a: Org, org_b: Org,
                                                file_report: ReportFactory) -> None:
    mine, other = file_report(org_a), file_report(org_b)
    reference = services.cases.summary(org_a.handler, mine.case_id).reference
    their_reference = services.cases.summary(org_b.handler, other.case_id).reference
    h = org_a.handler

    for term in (reference, reference.lower(), reference.replace("-", ""), f" {reference[:4]} ", reference[:6]):
        assert mine.case_id in {r.id for r in services.cases.queue(h, QueueFilter(reference=term))}, term
    assert services.cases.queue(h, QueueFilter(reference=their_reference)) == []  # never across tenants
    for bad in ("%", "AB_C", "ABCD-1234-5", "'; DROP TABLE cases; --", "AB-CD", "ABCDEFGHIJ"):
        with pytest.raises(InvalidInput) as caught:
            QueueFilter(reference=bad)
        assert caught.value.field == "ref"


def test_a_cursor_cannot_be_edited_reused_or_carried_across(
        services: Services, org_a: Org, org_b: Org, make_staff: StaffFactory,
        big_queue: tuple[set[uuid.UUID], set[uuid.UUID]]) -> None:
    h = org_a.handler
    filters = QueueFilter(overdue_only=True)
    page = services.cases.queue_page(h, filters, None, 50)
    cursor = page.next_cursor
    assert cursor is not None
    body, _, mac = cursor.partition(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    second_handler = make_staff((org_a.tenant, Role.HANDLER))
    tampered = [f"{flipped}.{mac}", f"{body}.{mac[:-1]}x", body, f".{mac}", "x" * 2000, "..", "%00",
                f"{body}.{mac}.{mac}"]
    for bad in tampered:
        with pytest.raises(InvalidInput) as caught:
            services.cases.queue_page(h, filters, bad, 50)
        assert caught.value.field == "cursor"
    for principal, other_filters, size in ((h, QueueFilter(), 50), (h, QueueFilter(overdue_only=True,
                                           sort=QueueSort.DEADLINE), 50), (h, filters, 51),
                                           (org_b.handler, filters, 50), (second_handler, filters, 50)):
        with pytest.raises(InvalidInput):
            services.cases.queue_page(principal, other_filters, cursor, size)
    for size in (0, -1, 201):
        with pytest.raises(InvalidInput):
            services.cases.queue_page(h, filters, None, size)
    assert services.cases.queue_page(org_b.handler, filters, None, 50).rows == []


def test_the_locked_flag_is_right_on_every_page(
        services: Services, clock: FrozenClock, org_a: Org, make_reader: ReaderFactory,
        file_report: ReportFactory) -> None:
    late = make_reader(org_a)  # a reader from now on: holds copies of later reports only
    clock.advance(minutes=1)
    before = []
    for _ in range(3):
        clock.advance(minutes=1)
        before.append(file_report(org_a).case_id)
    newcomer = make_reader(org_a, receives=False)
    pages = all_pages(services, newcomer, QueueFilter(), page_size=2)
    assert len(pages) == 2
    assert {row.id: row.accessible for page in pages for row in page} == {case_id: False for case_id in before}
    pages = all_pages(services, late, QueueFilter(), page_size=2)
    assert {row.id: row.accessible for page in pages for row in page} == {case_id: True for case_id in before}


# --- saved searches ---------------------------------------------------------------------
MARKER = "Zebra-7731 <script>alert(1)</script>"


def test_saved_searches_are_the_handlers_own_and_sealed(
        services: Services, org_a: Org, org_b: Org, make_reader: ReaderFactory) -> None:
    h = org_a.handler
    search = QueueFilter(overdue_only=True, sort=QueueSort.DEADLINE, reference="ABCD")
    saved = services.saved_queue_filters.save(h, MARKER, search)
    services.session.flush()

    (listed,) = services.saved_queue_filters.list(h)
    assert (listed.name, listed.filters, listed.tenant_id) == (MARKER, search, org_a.tenant.id)
    colleague = make_reader(org_a)
    assert services.saved_queue_filters.list(colleague) == []
    assert services.saved_queue_filters.list(org_b.handler) == []
    for other in (colleague, org_b.handler):
        with pytest.raises(NotFound):
            services.saved_queue_filters.delete(other, saved.id)
    # A DBA reads neither the name nor the search; moving the row to a colleague opens nothing.
    raw = services.session.execute(sa.text("SELECT * FROM queue_filters")).all()
    assert b"Zebra" not in repr(raw).encode() and b"ABCD" not in repr(raw).encode()
    services.session.execute(sa.update(SavedQueueFilter).values(user_id=colleague.user_id))
    assert services.saved_queue_filters.list(colleague) == []
    services.session.execute(sa.update(SavedQueueFilter).values(user_id=h.user_id))
    events = services.session.execute(sa.text("SELECT * FROM audit_events")).all()
    assert "Zebra" not in repr(events)

    services.saved_queue_filters.delete(h, saved.id)
    assert services.saved_queue_filters.list(h) == []


def test_saving_a_search_checks_its_name_and_tenant(services: Services, org_a: Org, org_b: Org,
                                                    make_staff: StaffFactory) -> None:
    for bad in ("", "   ", "x" * 81, "tab\there\x00"):
        with pytest.raises(InvalidInput) as caught:
            services.saved_queue_filters.save(org_a.handler, bad, QueueFilter())
        assert caught.value.field == "name"
    with pytest.raises(InvalidInput):
        services.saved_queue_filters.save(org_a.handler, "theirs", QueueFilter(tenant_id=org_b.tenant.id))
    both = make_staff((org_a.tenant, Role.HANDLER), (org_b.tenant, Role.HANDLER))
    with pytest.raises(InvalidInput) as caught:
        services.saved_queue_filters.save(both, "which one?", QueueFilter())
    assert caught.value.field == "tenant"
    assert services.saved_queue_filters.save(both, "beta", QueueFilter(tenant_id=org_b.tenant.id)).tenant_id == \
        org_b.tenant.id
