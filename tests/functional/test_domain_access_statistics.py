"""Access events counted by source and by project over time (appliance/statistics/access.py): a
hand count, small cells withheld per column with a second one beside them, tenants kept apart,
events stored before the source's blind index (migration 0023) filled in by the next upload, and
a DBA who reads the table learns no source."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.events.models import AccessEvent
from appliance.events.service import NewEvent
from appliance.services import Services
from appliance.statistics.access import BY_DAY, BY_MONTH, NOT_INDEXED, PROJECT, SOURCE, AccessCounts, access_lines
from appliance.statistics.period import Period
from appliance.statistics.suppression import Cell, Withheld
from tests.functional.conftest import Org

pytestmark = pytest.mark.one_session
SMALL, SECONDARY = Cell(None, Withheld.SMALL), Cell(None, Withheld.SECONDARY)
NOW = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
Q1 = Period.parse("2026-01", "2026-03", NOW)


def upload(services: Services, org: Org, source: str, project: str, day: dt.date, n: int, tag: str = "") -> None:
    services.access_events.upload(org.tenant.id, [NewEvent(
        f"{tag}{source}-{project}-{day}-{i}", source, dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC),
        f"person{i}@example.com", "opened", "mkaccessObject", project) for i in range(n)], CLI)
    services.session.commit()


def table(counts: AccessCounts, name: str) -> dict[str | None, dict[str, Cell]]:
    found = counts.tables[name]
    return {row.label: dict(zip(found.columns, row.cells, strict=True)) for row in found.rows}


@pytest.fixture
def uploaded(services: Services, org_a: Org, org_b: Org) -> None:
    """Alpha: badge-system 12 (Jan) + 7 (Feb) on FALCON, 3 (Feb) on HAWK; vpn-mkaccess 6 (Jan) on HAWK.
    Beta: badge-system 9 (Jan) on FALCON."""
    upload(services, org_a, "badge-system", "FALCON", dt.date(2026, 1, 5), 12)
    upload(services, org_a, "badge-system", "FALCON", dt.date(2026, 2, 5), 7)
    upload(services, org_a, "badge-system", "HAWK", dt.date(2026, 2, 6), 3)
    upload(services, org_a, "vpn-mkaccess", "HAWK", dt.date(2026, 1, 7), 6)
    upload(services, org_b, "badge-system", "FALCON", dt.date(2026, 1, 9), 9)


def test_counts_by_source_and_project_equal_the_hand_count(services: Services, org_a: Org, uploaded: None) -> None:
    counts = services.access_statistics.counts([org_a.tenant.id], Q1, CLI)
    assert counts.by == BY_MONTH and counts.tables[SOURCE].columns == ("2026-01", "2026-02", "2026-03")
    # Feb by source: 10 badge, 0 vpn; Mar: nothing at all (every cell 0, nothing shown to withhold)
    assert table(counts, SOURCE) == {
        "badge-system": {"2026-01": Cell(12), "2026-02": SECONDARY, "2026-03": SMALL},
        "vpn-mkaccess": {"2026-01": Cell(6), "2026-02": SMALL, "2026-03": SMALL}}
    # Jan by project: FALCON 12, HAWK 6; Feb: FALCON 7, HAWK 3 (small): FALCON, the first shown, goes too
    assert table(counts, PROJECT) == {
        "FALCON": {"2026-01": Cell(12), "2026-02": SECONDARY, "2026-03": SMALL},
        "HAWK": {"2026-01": Cell(6), "2026-02": SMALL, "2026-03": SMALL}}
    assert not counts.month_totals_withheld
    exported = access_lines(counts)
    assert ("events_by_source", "2026-01 badge-system", "12") in exported
    assert ("events_by_project", "2026-02 HAWK", "<5") in exported
    assert not [v for _, _, v in exported if v in {"1", "2", "3", "4"}]


def test_one_month_is_counted_by_day(services: Services, org_a: Org, uploaded: None) -> None:
    february = services.access_statistics.counts([org_a.tenant.id], Period.parse("2026-02", "2026-02", NOW), CLI)
    assert february.by == BY_DAY and len(february.tables[SOURCE].columns) == 28
    badge = table(february, SOURCE)["badge-system"]
    assert badge["2026-02-05"] == Cell(7) and badge["2026-02-06"] == SMALL and badge["2026-02-01"] == SMALL


def test_tenants_are_kept_apart(services: Services, org_a: Org, org_b: Org, uploaded: None) -> None:
    beta = services.access_statistics.counts([org_b.tenant.id], Q1, CLI)
    assert table(beta, SOURCE) == {"badge-system": {"2026-01": Cell(9), "2026-02": SMALL, "2026-03": SMALL}}
    assert list(table(beta, PROJECT)) == ["FALCON"]
    both = services.access_statistics.counts([org_a.tenant.id, org_b.tenant.id], Q1, CLI)
    # the same source in two tenants is two rows (each tenant's blind index is its own)
    assert [r.label for r in both.tables[SOURCE].rows] == ["badge-system", "badge-system", "vpn-mkaccess"]
    assert {r.tenant_id for r in both.tables[SOURCE].rows} == {org_a.tenant.id, org_b.tenant.id}
    assert services.access_statistics.counts([], Q1, CLI).tables[SOURCE].rows == ()


def test_a_column_of_small_cells_withholds_the_month_totals(services: Services, org_a: Org) -> None:
    for source in ("a-src", "b-src", "c-src"):
        upload(services, org_a, source, "KITE", dt.date(2026, 1, 5), 4)  # 12 in January, 4 by each source
    counts = services.access_statistics.counts([org_a.tenant.id], Q1, CLI)
    # January's 12 would say that each source had 4: the column goes whole, in both tables (KITE's
    # 12 is January's total too), and so do the month totals
    assert [row.cells[0] for row in counts.tables[SOURCE].rows] == [SECONDARY] * 3
    assert table(counts, PROJECT) == {"KITE": {"2026-01": SECONDARY, "2026-02": SMALL, "2026-03": SMALL}}
    assert counts.month_totals_withheld


def test_events_stored_before_the_source_index_are_filled_in_by_the_next_upload(
        services: Services, org_a: Org, org_b: Org, uploaded: None) -> None:
    services.session.execute(sa.update(AccessEvent).values(source_lookup=None))  # as after migration 0023
    services.session.commit()
    before = services.access_statistics.counts([org_a.tenant.id], Q1, CLI)
    assert [r.label for r in before.tables[SOURCE].rows] == [None]
    assert before.tables[SOURCE].rows[0].key.endswith(":" + NOT_INDEXED)
    upload(services, org_a, "vpn-mkaccess", "HAWK", dt.date(2026, 3, 2), 1, tag="late-")
    after = services.access_statistics.counts([org_a.tenant.id], Q1, CLI)
    assert table(after, SOURCE)["badge-system"]["2026-01"] == Cell(12)
    assert None not in table(after, SOURCE)
    # beta's events wait for beta's own next upload
    nulls = services.session.execute(sa.select(sa.func.count()).select_from(AccessEvent).where(
        AccessEvent.source_lookup.is_(None))).scalar_one()
    assert nulls == 9


def test_a_dba_reads_no_source_from_the_index(services: Services, org_a: Org, uploaded: None) -> None:
    lookups = {bytes(v) for v in services.session.execute(sa.select(AccessEvent.source_lookup).where(
        AccessEvent.tenant_id == org_a.tenant.id)).scalars()}
    assert len(lookups) == 2
    for guess in ("badge-system", "vpn-mkaccess"):  # an unkeyed hash of a guessed source matches nothing
        assert hashlib.sha256(guess.encode()).digest() not in lookups
        assert hashlib.sha256(f"access-event-source\x1f{org_a.tenant.id.hex}\x1f{guess}".encode()).digest() not in lookups
    raw = b"".join(bytes(c or b"") for row in services.session.execute(sa.select(
        AccessEvent.content_sealed, AccessEvent.source_lookup, AccessEvent.project_lookup)).all() for c in row)
    assert b"mkaccess" not in raw and b"badge-system" not in raw
