"""The analyst's figures from case metadata: a seeded tenant against a hand count
(tests/functional/stats_support.py), the period, and tenants kept apart."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.cases.reporting import NewReport
from appliance.errors import InvalidInput
from appliance.events.service import NewEvent
from appliance.services import Services
from appliance.statistics.export import figures_csv, lines
from appliance.statistics.period import Period
from appliance.statistics.suppression import Cell, Withheld
from tests.functional.conftest import Org
from tests.functional.stats_support import seed

pytestmark = pytest.mark.one_session
SMALL, SECONDARY = Cell(None, Withheld.SMALL), Cell(None, Withheld.SECONDARY)
Q1 = Period.parse("2026-01", "2026-03", dt.datetime(2026, 3, 2, tzinfo=dt.UTC))


def rows(figures: object, name: str) -> dict[str, Cell]:
    return {r.key: r.cell for r in figures.breakdowns[name].rows}  # type: ignore[attr-defined]


def test_figures_of_a_seeded_tenant_equal_the_hand_count(services: Services, org_a: Org, org_b: Org) -> None:
    seed(services, org_a.tenant, org_a.category_id, org_a.other_category_id, "mkstatsA")
    for _ in range(7):  # another tenant's reports change nothing of A's
        services.reporting.submit(org_b.tenant, NewReport(org_b.category_id, "beta report"), [])
    labels = {c.id: c.label for c in services.tenants.categories(org_a.tenant.id)}
    unwraps = services.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()

    f = services.case_statistics.figures([org_a.tenant.id], Q1)

    assert (f.reports, f.open, f.overdue) == (Cell(16), Cell(6), SMALL)
    assert rows(f, "month") == {"2026-01": SECONDARY, "2026-02": Cell(6), "2026-03": SMALL}
    assert rows(f, "category") == {labels[org_a.category_id]: Cell(11), labels[org_a.other_category_id]: Cell(5)}
    assert rows(f, "channel") == {"portal": SECONDARY, "phone": Cell(6), "letter": SMALL, "meeting": SMALL,
                                  "email": SMALL, "other": SMALL}
    assert rows(f, "status") == {"received": SMALL, "acknowledged": SECONDARY, "assessing": SMALL,
                                 "investigating": SMALL, "closed": Cell(10)}
    assert rows(f, "state") == {"open": Cell(6), "closed": Cell(10)}
    # every breakdown with a small cell (zeros too) withholds its first shown cell with it
    assert rows(f, "outcome") == {"substantiated": SECONDARY, "partly-substantiated": SMALL,
                                  "not-substantiated": SMALL, "out-of-scope": SMALL, "referred": SMALL,
                                  "withdrawn": SMALL, "duplicate": SMALL, "not-a-report": SMALL}
    assert f.breakdowns["outcome"].total == Cell(10) and f.breakdowns["month"].total == Cell(16)
    assert (f.to_acknowledge.cases, f.to_acknowledge.median_days, f.to_acknowledge.p90_days) == (Cell(16), 4.0, 10.0)
    assert (f.to_feedback.cases, f.to_feedback.median_days, f.to_feedback.p90_days) == (Cell(10), 20.0, 20.0)
    # 12 of 16 acknowledged within 7 days: the 4 late would show, so the share is withheld
    assert (f.acknowledged_in_time.due, f.acknowledged_in_time.in_time, f.acknowledged_in_time.percent) == (
        Cell(16), SECONDARY, None)
    assert (f.fed_back_in_time.due, f.fed_back_in_time.in_time, f.fed_back_in_time.percent) == (
        Cell(10), Cell(10), 100.0)
    # metadata only: nothing was unwrapped or unsealed to make them (no logbook event at all)
    assert services.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one() == unwraps


def test_another_tenant_and_no_tenant_see_nothing_of_a(services: Services, org_a: Org, org_b: Org) -> None:
    seed(services, org_a.tenant, org_a.category_id, org_a.other_category_id, "mkstatsA")
    assert services.case_statistics.figures([org_b.tenant.id], Q1).reports == SMALL
    assert rows(services.case_statistics.figures([org_b.tenant.id], Q1), "channel")["portal"] == SMALL
    assert services.case_statistics.figures([], Q1).reports == SMALL
    both = services.case_statistics.figures([org_a.tenant.id, org_b.tenant.id], Q1)
    assert both.reports == Cell(16)


def test_the_period_bounds_the_reports(services: Services, org_a: Org) -> None:
    seed(services, org_a.tenant, org_a.category_id, org_a.other_category_id, "mkstatsA")
    january = services.case_statistics.figures([org_a.tenant.id], Period.parse("2026-01", "2026-01", Q1.start))
    assert january.reports == Cell(8) and list(rows(january, "month")) == ["2026-01"]


def test_exports_carry_the_marks_never_a_small_value_or_the_content(services: Services, org_a: Org) -> None:
    seed(services, org_a.tenant, org_a.category_id, org_a.other_category_id, "mkstatsA")
    f = services.case_statistics.figures([org_a.tenant.id], Q1)
    exported = dict(((s, i), v) for s, i, v in lines(f))
    assert exported[("month", "2026-03")] == "<5" and exported[("month", "2026-01")] == "x"
    assert exported[("outcome", "not-substantiated")] == "<5" and exported[("reports", "total")] == "16"
    assert b"mkstatsA" not in figures_csv(f)


@pytest.mark.parametrize(("first", "last"), [("2026-13", None), ("26-01", None), ("2026-03", "2026-01"),
                                               ("2000-01", "2026-01"), ("=1+1", None), ("2026-01" * 50, None)])
def test_a_bad_period_is_refused_naming_the_field(first: str, last: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        Period.parse(first, last, Q1.start)
    assert refused.value.field in ("from", "to") and first not in str(refused.value)


def test_default_period_is_the_twelve_months_up_to_now() -> None:
    period = Period.parse(None, None, Q1.end)
    assert (period.first.label, period.last.label) == ("2025-05", "2026-04")


def test_access_events_are_counted_by_month_from_their_times_only(services: Services, org_a: Org, org_b: Org) -> None:
    def upload(org: Org, n: int, day: int) -> None:
        services.access_events.upload(org.tenant.id, [NewEvent(
            f"ev-{org.tenant.slug}-{day}-{i}", "mkstatsSource", dt.datetime(2026, 2, day, 9, tzinfo=dt.UTC),
            f"person{i}@example.com", "opened", "mkstatsObject", "mkstatsProject") for i in range(n)], CLI)
        services.session.commit()

    upload(org_a, 6, 3)
    upload(org_b, 3, 4)
    before = services.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()
    events = services.case_statistics.figures([org_a.tenant.id], Q1).breakdowns["events"]
    # the two small months take the shown one with them (the total is shown)
    assert {r.key: r.cell for r in events.rows} == {"2026-01": SMALL, "2026-02": SECONDARY, "2026-03": SMALL}
    assert events.total == Cell(6)
    beta = services.case_statistics.figures([org_b.tenant.id], Q1).breakdowns["events"]
    assert beta.total == SMALL and all(not r.cell.shown for r in beta.rows)
    # nothing unsealed (an unwrap would be in the logbook) and no source or project in any output
    assert services.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one() == before
    assert b"mkstats" not in figures_csv(services.case_statistics.figures([org_a.tenant.id], Q1))
