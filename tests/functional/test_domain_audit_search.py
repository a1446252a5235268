"""The auditor's search of the logbook (appliance/audit/search.py, status.py) on real databases:
each filter alone and combined, keyset pages that never repeat or skip, cursors that cannot be
edited or carried to another search, exports line for line the CLI's, and the chain's standing."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, SYSTEM, Actor
from appliance.audit.export import LogbookExport
from appliance.audit.models import AuditEvent
from appliance.audit.search import LogbookQuery, LogbookSearch, parse_moment
from appliance.cli.audit import write_export
from appliance.errors import InvalidInput
from appliance.services import Services
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session

KEY = b"k" * 32


@dataclass(frozen=True)
class Logged:
    alpha: uuid.UUID
    beta: uuid.UUID
    clerk: Actor
    start: dt.datetime
    case_ids: list[str]


@pytest.fixture
def logged(services: Services, clock: FrozenClock) -> Logged:
    """30 events of alpha (three actions, two actors, three objects, an hour apart) between
    beta's; committed."""
    alpha, beta, clerk = uuid.uuid4(), uuid.uuid4(), Actor("user", uuid.uuid4())
    cases = [str(uuid.uuid4()) for _ in range(3)]
    start = clock()
    for i in range(30):
        services.logbook.record(("case.opened", "case.noted", "user.signed_in")[i % 3], clerk if i % 2 else SYSTEM,
                                tenant_id=alpha, object_type="case", object_id=cases[i % 3])
        services.logbook.record("case.opened", clerk, tenant_id=beta, object_type="case", object_id=cases[i % 3])
        clock.advance(hours=1)
    services.session.commit()
    return Logged(alpha, beta, clerk, start, cases)


def search(services: Services, page_size: int = 50) -> LogbookSearch:
    return LogbookSearch(services.session, KEY, page_size)


def all_pages(searcher: LogbookSearch, query: LogbookQuery) -> list[int]:
    seqs: list[int] = []
    page = searcher.page(query)
    seqs += [e.seq for e in page.events]
    while page.next_cursor:
        page = searcher.page(query, page.next_cursor)
        seqs += [e.seq for e in page.events]
    return seqs


def test_a_search_sees_its_tenant_only_newest_first(services: Services, logged: Logged) -> None:
    page = search(services).page(LogbookQuery(logged.alpha))
    assert len(page.events) == 30 and page.next_cursor is None
    assert [e.seq for e in page.events] == sorted((e.seq for e in page.events), reverse=True)
    beta = search(services).page(LogbookQuery(logged.beta)).events
    assert not {e.seq for e in page.events} & {e.seq for e in beta}
    assert search(services).page(LogbookQuery(uuid.uuid4())).events == []


def test_each_filter_alone_and_combined(services: Services, logged: Logged) -> None:
    s, alpha, t0 = search(services), logged.alpha, logged.start
    by_action = s.page(LogbookQuery(alpha, action="case.noted")).events
    assert len(by_action) == 10 and {e.action for e in by_action} == {"case.noted"}
    by_actor = s.page(LogbookQuery(alpha, actor_id=str(logged.clerk.user_id))).events
    assert len(by_actor) == 15 and {e.actor_id for e in by_actor} == {str(logged.clerk.user_id)}
    by_object = s.page(LogbookQuery(alpha, object_id=logged.case_ids[0])).events
    assert len(by_object) == 10 and {e.object_id for e in by_object} == {logged.case_ids[0]}
    by_time = s.page(LogbookQuery(alpha, since=t0 + dt.timedelta(hours=10), until=t0 + dt.timedelta(hours=20))).events
    assert len(by_time) == 10
    assert all(t0 + dt.timedelta(hours=10) <= e.occurred_at < t0 + dt.timedelta(hours=20) for e in by_time)
    assert len(s.page(LogbookQuery(alpha, since=t0 + dt.timedelta(hours=25))).events) == 5
    assert len(s.page(LogbookQuery(alpha, until=t0 + dt.timedelta(hours=5))).events) == 5
    # i % 3 == 0 (case.opened, object 0) and i odd (the clerk): i = 3, 9, 15, 21, 27; from hour 10: 15, 21, 27
    combined = s.page(LogbookQuery(alpha, since=t0 + dt.timedelta(hours=10), actor_id=str(logged.clerk.user_id),
                                   action="case.opened", object_id=logged.case_ids[0])).events
    assert [e.occurred_at for e in combined] == [t0 + dt.timedelta(hours=h) for h in (27, 21, 15)]
    assert s.page(LogbookQuery(logged.beta, action="case.noted")).events == []


def test_keyset_pages_cover_every_event_once(services: Services, logged: Logged) -> None:
    query = LogbookQuery(logged.alpha)
    paged = all_pages(search(services, page_size=7), query)
    assert paged == [e.seq for e in search(services).page(query).events]
    assert len(paged) == 30 and len(set(paged)) == 30
    filtered = all_pages(search(services, page_size=4), LogbookQuery(logged.alpha, action="case.opened"))
    assert len(filtered) == 10


def test_a_cursor_that_was_edited_or_carried_elsewhere_is_refused(services: Services, logged: Logged) -> None:
    s = search(services, page_size=5)
    query = LogbookQuery(logged.alpha)
    cursor = s.page(query).next_cursor
    assert cursor is not None
    seq, _, mac = cursor.partition(".")
    tampered = [f"{int(seq) + 100}.{mac}", f"{seq}.{mac[:-1]}A" if mac[-1] != "A" else f"{seq}.{mac[:-1]}B",
                seq, "", ".", "x.y", f"-1.{mac}", "9" * 40 + f".{mac}", f"{seq}.{mac}<script>"]
    for bad in tampered:
        with pytest.raises(InvalidInput) as refused:
            s.page(query, bad or ".")
        assert refused.value.field == "cursor", bad
    for elsewhere in (LogbookQuery(logged.beta), LogbookQuery(logged.alpha, action="case.opened")):
        with pytest.raises(InvalidInput):
            s.page(elsewhere, cursor)
    with pytest.raises(InvalidInput):  # another installation's (or key's) cursor
        LogbookSearch(services.session, b"x" * 32, 5).page(query, cursor)
    assert [e.seq for e in s.page(query, cursor).events]  # the genuine one still works


@pytest.mark.parametrize("field", ["actor_id", "action", "object_id"])
def test_oversized_or_unprintable_terms_are_refused(field: str) -> None:
    for value in ("x" * 65, "a\nb", "nul\x00"):
        with pytest.raises(InvalidInput) as refused:
            LogbookQuery(uuid.uuid4(), **{field: value})  # type: ignore[arg-type]
        assert refused.value.field == field
    LogbookQuery(uuid.uuid4(), **{field: "x" * 64})  # type: ignore[arg-type]


def test_times_are_parsed_as_utc_and_a_backwards_range_is_refused() -> None:
    assert parse_moment("since", "2026-03-01") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert parse_moment("since", "2026-03-01T08:00") == dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    assert parse_moment("since", "2026-03-01T09:00+01:00") == dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    for bad in ("yesterday", "2026-13-01", "<script>", ""):
        with pytest.raises(InvalidInput):
            parse_moment("since", bad)
    with pytest.raises(InvalidInput) as refused:
        LogbookQuery(uuid.uuid4(), since=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), until=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert refused.value.field == "until"


def flat(batches: Iterator[list[str]]) -> list[str]:
    return [line for batch in batches for line in batch]


def cli_lines(services: Services, since: dt.datetime, until: dt.datetime | None) -> list[str]:
    exporter = LogbookExport(services.session)
    out = io.StringIO()
    write_export(out, exporter.plan(since, until), exporter, "jsonl", None)
    return out.getvalue().splitlines()


def test_the_export_is_the_cli_export_of_the_same_range_cut_to_the_tenant(services: Services, logged: Logged) -> None:
    since, until = logged.start + dt.timedelta(hours=5), logged.start + dt.timedelta(hours=25)
    cli = cli_lines(services, since, until)
    ours = flat(search(services).export_lines(LogbookQuery(logged.alpha, since=since, until=until)))
    cli_header, ours_header = json.loads(cli[0]), json.loads(ours[0])
    alpha_events = [line for line in cli[1:] if json.loads(line)["tenant"] == str(logged.alpha)]
    assert ours[1:] == alpha_events and len(alpha_events) == 20
    assert ours_header["events"] == 20
    # The header names the run of the chain from alpha's first to its last event in the range.
    first, last = json.loads(ours[1])["seq"], json.loads(ours[-1])["seq"]
    assert (ours_header["anchor_seq"], ours_header["first_seq"], ours_header["last_seq"]) == (first - 1, first, last)
    assert ours_header["anchor_hash"] == services.session.get_one(AuditEvent, first).prev_hash.hex()
    assert ours_header["last_hash"] == services.session.get_one(AuditEvent, last).hash.hex()
    assert {k: ours_header[k] for k in ("format", "since", "until", "checkpoint")} == \
        {k: cli_header[k] for k in ("format", "since", "until", "checkpoint")}
    assert ours_header["filter"]["tenant"] == str(logged.alpha)

    filtered = flat(search(services).export_lines(LogbookQuery(logged.alpha, action="case.noted")))
    assert json.loads(filtered[0])["events"] == len(filtered) - 1 == 10
    assert filtered[1:] == [line for line in cli_lines(services, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), None)[1:]
                            if json.loads(line)["tenant"] == str(logged.alpha)
                            and json.loads(line)["action"] == "case.noted"]


def test_the_export_finds_its_range_on_the_tenants_time_index_and_holds_what_the_pages_show(
        services: Services, logged: Logged, clock: FrozenClock) -> None:
    clock.advance(hours=-10)  # a host whose clock stepped back: later in the chain, earlier in time
    services.logbook.record("case.noted", SYSTEM, tenant_id=logged.alpha)
    clock.advance(hours=10)
    services.logbook.record("case.noted", SYSTEM, tenant_id=logged.alpha)
    services.session.commit()
    hours = dt.timedelta(hours=1)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = services.session.get_bind()
    for query in (LogbookQuery(logged.alpha, since=logged.start + 7 * hours, until=logged.start + 19 * hours),
                  LogbookQuery(logged.alpha, since=logged.start + 25 * hours),
                  LogbookQuery(logged.alpha, until=logged.start + 3 * hours, action="case.opened")):
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            lines = flat(search(services).export_lines(query))
        finally:
            sa.event.remove(engine, "before_cursor_execute", seen)
        assert [json.loads(line)["seq"] for line in lines[1:]] == sorted(all_pages(search(services, 7), query))
        # Every look-up by time is one tenant's (the (tenant_id, occurred_at, seq) index), none
        # scans the whole chain by time as `appliance audit export` does.
        by_time = [s for s in statements if "occurred_at >=" in s]
        assert by_time and all("tenant_id =" in s for s in by_time), by_time


def test_an_export_of_nothing_is_a_header_alone(services: Services, logged: Logged) -> None:
    lines = flat(search(services).export_lines(LogbookQuery(logged.alpha, since=logged.start + dt.timedelta(days=9))))
    assert len(lines) == 1 and json.loads(lines[0])["events"] == 0


def test_the_status_records_each_verification_for_its_tenant(services: Services, logged: Logged) -> None:
    status = services.chain_status
    assert status.last_verification(logged.alpha) is None
    report = status.verify(logged.clerk, logged.alpha)
    services.session.commit()
    assert report.ok
    seen = status.last_verification(logged.alpha)
    assert seen is not None and seen.ok and seen.events == report.events and seen.actor_id == str(logged.clerk.user_id)
    assert status.last_verification(logged.beta) is None
    assert status.newest_checkpoint() is None or "anchor_seq" in (status.newest_checkpoint() or {})
    status.verify(CLI, logged.beta)
    assert status.last_verification(logged.beta) is not None


def test_a_time_range_is_a_run_of_the_chain_paged_like_any_search(services: Services, logged: Logged) -> None:
    s, alpha, t0 = search(services, page_size=4), logged.alpha, logged.start
    hours = dt.timedelta(hours=1)
    query = LogbookQuery(alpha, since=t0 + 7 * hours, until=t0 + 19 * hours)
    paged = all_pages(s, query)
    everything = search(services).page(LogbookQuery(alpha)).events
    expected = [e.seq for e in everything if t0 + 7 * hours <= e.occurred_at < t0 + 19 * hours]
    assert paged == expected and len(paged) == 12
    # The cut is by the tenant's own events: beta's events in between change nothing.
    assert all_pages(s, LogbookQuery(alpha, since=t0 + 7 * hours - dt.timedelta(minutes=1),
                                     until=t0 + 19 * hours - dt.timedelta(minutes=1))) == expected
    # Ranges past either end, and ranges with nothing of this tenant in them, are empty.
    assert s.page(LogbookQuery(alpha, since=t0 + 40 * hours)).events == []
    assert s.page(LogbookQuery(alpha, until=t0 - hours)).events == []
    assert s.page(LogbookQuery(alpha, since=t0 + 7 * hours + dt.timedelta(minutes=1),
                               until=t0 + 7 * hours + dt.timedelta(minutes=59))).events == []
    assert s.page(LogbookQuery(uuid.uuid4(), since=t0, until=t0 + 40 * hours)).events == []


def test_a_clock_that_stepped_back_still_gives_one_run_of_the_chain(services: Services, logged: Logged,
                                                                    clock: FrozenClock) -> None:
    # A host whose clock is behind appends after the others: its event is later in the chain but
    # earlier in time. A range is cut in chain order (as exports are), so it stays one run.
    clock.advance(hours=-10)
    late = services.logbook.record("case.noted", SYSTEM, tenant_id=logged.alpha)
    clock.advance(hours=10)
    after = services.logbook.record("case.noted", SYSTEM, tenant_id=logged.alpha)
    services.session.commit()
    seqs = all_pages(search(services, page_size=3), LogbookQuery(logged.alpha, since=logged.start + dt.timedelta(
        hours=25)))
    assert seqs[:2] == [after, late] and seqs == sorted(seqs, reverse=True)
    assert len(seqs) == 7  # hours 25 to 29, then the two appended
