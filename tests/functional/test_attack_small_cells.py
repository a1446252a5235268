"""An analyst (or a BI tool with a stats:read token) who knows the withholding rule by heart tries
to subtract a small cell back out of a total: total minus the shown cells, knowing which cell the
rule withholds beside a small one ("x", five or more) and when. In the page, the CSV, the XLSX and
the API alike, every small cell can still be anything from 0 to 4 (appliance/statistics/suppression.py).
The old rule withheld the smallest shown cell, and only when the small ones needed it: with 4, 5, 5
received over three months and a total of 14, "x" had to be 5, so the small cell was 4."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from appliance.actors import CLI, Role
from appliance.services import Services
from tests.functional.stats_support import file_by_month
from tests.functional.world import World, make_staff
from tests.web import Browser

SMALL, SECONDARY = "<5", "x"
PERIODS = {  # counts by month, received in 2025 (the world's own reports are in 2026)
    "4, 5, 5": {"2025-01": 4, "2025-02": 5, "2025-03": 5},
    "5, 4, 5": {"2025-01": 5, "2025-02": 4, "2025-03": 5},
    "5, 5, 4": {"2025-01": 5, "2025-02": 5, "2025-03": 4},
    "4, 6": {"2025-01": 4, "2025-02": 6},
    "1, 5, 30": {"2025-01": 1, "2025-02": 5, "2025-03": 30},
    "0, 9, 7": {"2025-01": 0, "2025-02": 9, "2025-03": 7},
}


def what_an_attacker_can_tell(cells: dict[str, str], total: str) -> dict[str, tuple[int, int]]:
    """The least and the most each small cell can be, from the total, the shown cells and the rule:
    a small cell is 0 to 4, a withheld one beside it 5 or more, of any size (the rule takes the
    first shown cell, so which one it took bounds nothing)."""
    assert total.isdigit(), "the reports' total is shown here: that is what the attacker works from"
    left = int(total) - sum(int(v) for v in cells.values() if v.isdigit())
    small = [k for k, v in cells.items() if v == SMALL]
    secondary = [k for k, v in cells.items() if v == SECONDARY]
    low = 0 if secondary else max(0, left - 4 * (len(small) - 1))
    return {k: (low, min(4, left - 5 * len(secondary))) for k in small}


def assert_nothing_given_away(cells: dict[str, str], total: str) -> None:
    assert sum(1 for v in cells.values() if not v.isdigit()) >= 2, cells  # never one withheld cell alone
    for key, (low, high) in what_an_attacker_can_tell(cells, total).items():
        assert low == 0 and (high > low or high == 0), (key, cells, total)


@pytest.fixture
def beta_analyst(world: World, services: Services) -> Browser:
    staff = make_staff(services, world.clock, [(world.beta.tenant_id, Role.ANALYST)], "analyst@beta.example.com")
    return world.staff_browser(staff)


def token(world: World) -> dict[str, str]:
    with world.ctx.unit_of_work() as session:
        services = Services(world.ctx, session)
        made = services.api_tokens.create(world.beta.tenant_id, "beta bi", ["stats:read"], None, CLI).token
    return {"Authorization": "Bearer " + made}


@pytest.mark.parametrize("name", list(PERIODS))
def test_no_output_lets_a_small_month_be_subtracted_back(world: World, services: Services, beta_analyst: Browser,
                                                        name: str) -> None:
    months = PERIODS[name]
    tenant = services.tenants.by_slug("beta")
    file_by_month(services, tenant, services.tenants.categories(tenant.id)[0].id, months, "mkattack")
    query = f"from={min(months)}&to={max(months)}&tenant=beta"
    total = str(sum(months.values()))

    html = beta_analyst.get(f"/stats/?{query}").get_data(as_text=True)
    body = re.search(r'<table data-breakdown="month">(.*?)</table>', html, re.S)
    assert body
    page = {k: re.sub(r"<[^>]+>", "", v).strip().replace("&lt;", "<") for k, v in re.findall(
        r'<tr data-key="([^"]*)"><th scope="row">.*?</th><td>(.*?)</td></tr>', body.group(1))}
    footer = re.search(r"<tfoot>.*?<td>(.*?)</td>", body.group(1), re.S)
    assert footer and footer.group(1).strip() == total
    assert_nothing_given_away(page, total)

    text = beta_analyst.get(f"/stats/export.csv?{query}").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert_nothing_given_away({i: v for s, i, v in rows if s == "month"},
                              next(v for s, i, v in rows if (s, i) == ("reports", "total")))

    sheet = openpyxl.load_workbook(io.BytesIO(beta_analyst.get(f"/stats/export.xlsx?{query}").get_data())).active
    values = [(s, i, str(v)) for s, i, v in sheet.iter_rows(min_row=2, values_only=True)]
    assert_nothing_given_away({i: v for s, i, v in values if s == "month"},
                              next(v for s, i, v in values if (s, i) == ("reports", "total")))

    api = world.app.test_client().get(f"/api/v1/stats?from={min(months)}&to={max(months)}", headers=token(world))
    document = api.get_json()
    marks = {"small": SMALL, "secondary": SECONDARY}
    assert_nothing_given_away({r["key"]: marks[r["count"]["withheld"]] if r["count"]["withheld"] else str(r["count"]["value"])
                               for r in document["breakdowns"]["month"]["rows"]}, str(document["reports"]["value"]))
    assert page == {i: v for s, i, v in rows if s == "month"}  # the same cells everywhere
