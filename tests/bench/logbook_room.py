"""The auditor's room over a large logbook: 1,000,000 synthetic events in three tenants.

Times LogbookSearch.page() (what GET /audit/t/<slug>/ runs) on the first page, on pages
followed by cursor, on a page deep in the past, and with each filter; keyset paging on
``seq`` (never OFFSET) should keep every page as cheap as the first. Figures only.
Goal: a page costs the same at any depth (no OFFSET scan): the deep page ~ the first page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from appliance.audit.models import AuditEvent, AuditHead
from appliance.audit.search import LogbookQuery, LogbookSearch
from appliance.context import build_context
from tests.bench.common import BACKENDS, Figures, fresh_database, median_seconds, parse_args, print_table

EVENTS = 1_000_000
TENANTS = 3
ACTIONS = ("case.viewed", "case.status_changed", "user.signed_in", "case.message_posted", "key.unwrapped")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
KEY = b"bench-cursor-key-bench-cursor-ke"


def fill(session: sa.orm.Session, count: int, tenants: list[uuid.UUID], objects: list[str]) -> None:
    """Synthetic rows in bulk (the hashes are placeholders: nothing here verifies the chain)."""
    digest = hashlib.sha256(b"bench").digest()
    first = int(session.execute(sa.select(AuditHead.seq)).scalar_one()) + 1
    chunk = 20_000
    for low in range(first, first + count, chunk):
        rows = [{"seq": seq, "occurred_at": START + dt.timedelta(seconds=seq * 3), "tenant_id": tenants[seq % TENANTS],
                 "actor_type": "user", "actor_id": str(uuid.UUID(int=seq % 50)), "action": ACTIONS[seq % len(ACTIONS)],
                 "object_type": "case", "object_id": objects[seq % len(objects)], "detail": None,
                 "prev_hash": digest, "hash": digest} for seq in range(low, min(low + chunk, first + count))]
        session.execute(sa.insert(AuditEvent), rows)
        session.commit()
    session.execute(sa.update(AuditHead).values(seq=first + count - 1, hash=digest))
    session.commit()


def measure(backend: str, count: int, repeat: int) -> dict[str, object]:
    tenants = [uuid.uuid4() for _ in range(TENANTS)]
    objects = [str(uuid.uuid4()) for _ in range(max(10, count // 500))]
    with fresh_database(backend) as settings:
        ctx = build_context(settings)
        try:
            with ctx.sessions() as session:
                started = time.perf_counter()
                fill(session, count, tenants, objects)
                fill_s = time.perf_counter() - started
            tenant = tenants[0]
            queries = {
                "newest page, no filter": LogbookQuery(tenant),
                "event type": LogbookQuery(tenant, action="user.signed_in"),
                "actor": LogbookQuery(tenant, actor_id=str(uuid.UUID(int=3))),
                "object id": LogbookQuery(tenant, object_id=objects[3]),
                "time range (a day, mid-log)": LogbookQuery(
                    tenant, since=START + dt.timedelta(seconds=count * 3 // 2),
                    until=START + dt.timedelta(seconds=count * 3 // 2, days=1)),
                "all filters": LogbookQuery(tenant, action=ACTIONS[0], actor_id=str(uuid.UUID(int=0)),
                                            since=START),
            }
            results: list[tuple[str, int, float]] = []
            with ctx.sessions() as session:
                search = LogbookSearch(session, KEY)
                for label, query in queries.items():
                    found = len(search.page(query).events)
                    results.append((label, found, median_seconds(lambda q=query: search.page(q), repeat)))
                # Paging on: ten pages followed by their cursors, one after another.
                query = queries["newest page, no filter"]
                page, times = search.page(query), []
                for _ in range(10):
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
                    started = time.perf_counter()
                    page = search.page(query, cursor)
                    times.append(time.perf_counter() - started)
                results.append(("next pages (median of 10)", len(page.events), sorted(times)[len(times) // 2]))
                # A page deep in the past: the cursor an auditor would hold after paging most of the way.
                deep = search._cursor(query, count // 20 + 1)
                results.append(("a page near the oldest event", len(search.page(query, deep).events),
                                median_seconds(lambda: search.page(query, deep), repeat)))
                session.rollback()
        finally:
            ctx.close()
    return {"fill_s": fill_s, "results": results}


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    count, repeat = (3_000, 3) if quick else (EVENTS, 9)
    figures: Figures = {}
    rows, notes = [], []
    for backend in backends:
        result = measure(backend, count, repeat)
        for label, found, seconds in result["results"]:  # type: ignore[attr-defined]
            rows.append((backend, label, found, seconds * 1000))
            figures[f"{backend}.{label.split(' (')[0].replace(' ', '_')}_ms"] = seconds * 1000
        notes.append(f"{backend}: {count:,} events in {TENANTS} tenants inserted in {result['fill_s']:.1f} s")
    print_table(f"Logbook room: one tenant's page of 50 over {count:,} events (median of {repeat})",
                "a page costs the same at any depth (keyset on seq, no OFFSET): deep page ~ first page",
                ("backend", "search", "rows", "ms"), rows, notes)
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
