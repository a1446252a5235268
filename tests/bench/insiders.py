"""Insider lists with a long history: a section of 2,000 insiders with 20,000 versions.

Times what an "as at" export and the section view cost when every insider changed nine times
(InsiderExports.export to XLSX, InsiderHistory.as_at), against the same section with no history
(2,000 insiders, one version each) in another tenant. Each run opens a new session, so person
and section keys are unwrapped as a request would. Figures only.
Goal: the long history costs at most 1.5x the same export without history.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence

from appliance.actors import CLI
from appliance.context import AppContext, build_context
from appliance.insiders.records import InsiderDetails
from appliance.services import Services
from tests.bench.common import BACKENDS, Figures, fresh_database, median_seconds, parse_args, print_table
from tests.support import FrozenClock

INSIDERS = 2_000
CHANGES = 9  # per insider: 2,000 x (1 + 9) = 20,000 versions
START = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)
BATCH = 100


def fill(ctx: AppContext, slug: str, insiders: int, changes: int) -> tuple[uuid.UUID, uuid.UUID]:
    """A tenant with one event section of ``insiders``, each changed ``changes`` times."""
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        tenant_id = services.tenants.create_tenant(f"{slug} AB", slug, CLI).id
        section_id = services.insider_lists.create_section(tenant_id, "FALCON", "Takeover", START, CLI)
    entries: list[uuid.UUID] = []
    for low in range(0, insiders, BATCH):
        with ctx.unit_of_work() as session:
            services = Services(ctx, session)
            for n in range(low, min(low + BATCH, insiders)):
                entries.append(services.insider_lists.add_insider(tenant_id, section_id, InsiderDetails(
                    first_name=f"Person{n}", surname="Lind", professional_phone="+46812345678",
                    email=f"p{n}@{slug}.example.com", national_id=f"19800101{n:04d}", date_of_birth="1980-01-01",
                    company_name_address="Issuer AB", function_reason="Deal team"), START + dt.timedelta(minutes=1),
                    CLI))
    for change in range(changes):
        for low in range(0, len(entries), BATCH):
            with ctx.unit_of_work() as session:
                services = Services(ctx, session)
                for entry in entries[low:low + BATCH]:
                    services.insider_lists.change_insider(tenant_id, entry, InsiderDetails(
                        function_reason=f"Deal team, step {change + 1}"),
                        START + dt.timedelta(hours=change + 1), CLI)
    return tenant_id, section_id


def timed(ctx: AppContext, tenant_id: uuid.UUID, section_id: uuid.UUID, as_at: dt.datetime, repeat: int,
          view: bool) -> float:
    def once() -> None:
        with ctx.sessions() as session:
            services = Services(ctx, session)
            if view:
                services.insider_history.as_at(tenant_id, as_at, CLI, section_id)
            else:
                services.insider_exports.export(tenant_id, section_id, "xlsx", as_at, CLI)
            session.rollback()
    return median_seconds(once, repeat)


def measure(backend: str, insiders: int, changes: int, repeat: int) -> dict[str, object]:
    with fresh_database(backend) as settings:
        clock = FrozenClock(START + dt.timedelta(days=1))
        ctx = build_context(settings, clock=clock)
        try:
            started = time.perf_counter()
            flat = fill(ctx, "flat", insiders, 0)
            long = fill(ctx, "long", insiders, changes)
            fill_s = time.perf_counter() - started
            midway = START + dt.timedelta(hours=changes // 2 + 1, minutes=30)
            results = []
            for label, view in (("XLSX export", False), ("section view (as_at)", True)):
                for moment_label, moment in (("now", clock.now), ("midway", midway)):
                    without = timed(ctx, *flat, moment, repeat, view)
                    with_history = timed(ctx, *long, moment, repeat, view)
                    results.append((f"{label}, as at {moment_label}", without, with_history))
        finally:
            ctx.close()
    return {"fill_s": fill_s, "results": results}


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    insiders, changes, repeat = (20, 2, 1) if quick else (INSIDERS, CHANGES, 3)
    figures: Figures = {}
    rows, notes = [], []
    for backend in backends:
        result = measure(backend, insiders, changes, repeat)
        for label, without, with_history in result["results"]:  # type: ignore[attr-defined]
            ratio = with_history / without if without else float("nan")
            rows.append((backend, label, without * 1000, with_history * 1000, ratio))
            key = label.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
            figures[f"{backend}.{key}_ms"] = with_history * 1000
            figures[f"{backend}.{key}_ratio"] = ratio
        notes.append(f"{backend}: {insiders:,} insiders x {changes + 1} versions, and {insiders:,} x 1, filled in "
                     f"{result['fill_s']:.0f} s")
    print_table(f"Insider list as at a moment: {insiders:,} insiders with {insiders * (changes + 1):,} versions "
                f"against the same without history (median of {repeat})",
                "the long history costs at most 1.5x the same without history (ratio <= 1.5)",
                ("backend", "what", "no history ms", "history ms", "ratio"), rows, notes)
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
