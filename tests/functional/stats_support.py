"""A seeded tenant for the statistics tests (no tests here): 16 reports whose metadata are set
so that every figure is known by hand (the tests write the expected figures out literally).

  index  received          channel  category  acknowledged after  status / outcome / feedback after
  0-1    2026-03-01 00:00  phone    second    1, 1 days           acknowledged
  2-5    2026-02-01 10:00  phone*   second*   2, 2, 3, 3 days     acknowledged       (*: 2-4 / 2-5)
  6-7    2026-02-01 10:00  portal   first     3, 4 days           closed, substantiated, 20 days
  8-11   2026-01-05 10:00  portal   first     5, 5, 6, 6 days     closed, substantiated, 20 days
  12-15  2026-01-05 10:00  portal   first     8, 9, 10, 12 days   closed, not substantiated, 20 days

Each report's text carries ``marker`` so outputs can be searched for it.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from appliance.cases.models import Case, queue_columns
from appliance.cases.reporting import NewReport
from appliance.services import Services
from appliance.tenants.models import Tenant

ACK_DAYS = (1, 1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 6, 8, 9, 10, 12)
MARCH, FEBRUARY, JANUARY = (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC),
                            dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC))


def received(index: int) -> dt.datetime:
    return MARCH if index < 2 else FEBRUARY if index < 8 else JANUARY


def seed(services: Services, tenant: Tenant, first: uuid.UUID, second: uuid.UUID, marker: str) -> list[uuid.UUID]:
    """File the 16 reports through the real pipeline, then set their metadata; committed."""
    ids = []
    for i in range(16):
        report = NewReport(second if i < 5 else first, f"{marker} report {i}", people=f"{marker} person",
                           channel="phone" if i < 6 else None, received_at=received(i) if i < 6 else None)
        ids.append(services.reporting.submit(tenant, report, []).case_id)
    for i, case_id in enumerate(ids):
        at = received(i)
        closed = i >= 6
        acknowledged, feedback = at + dt.timedelta(days=ACK_DAYS[i]), at + dt.timedelta(days=20) if closed else None
        status = "closed" if closed else "acknowledged"
        services.session.execute(sa.update(Case).where(Case.id == case_id, Case.tenant_id == tenant.id).values(
            received_at=at, acknowledged_at=acknowledged, status=status,
            **queue_columns(at, acknowledged, feedback, status),
            outcome=("substantiated" if i < 12 else "not-substantiated") if closed else None,
            feedback_at=feedback,
            closed_at=at + dt.timedelta(days=25) if closed else None))
    services.session.commit()
    return ids


def file_by_month(services: Services, tenant: Tenant, category: uuid.UUID, months: dict[str, int], marker: str) -> None:
    """File ``months[YYYY-MM]`` reports received on the 10th of each month; committed."""
    for month, n in months.items():
        year, number = (int(part) for part in month.split("-"))
        for _ in range(n):
            case_id = services.reporting.submit(tenant, NewReport(category, f"{marker} report"), []).case_id
            services.session.execute(sa.update(Case).where(Case.id == case_id, Case.tenant_id == tenant.id).values(
                received_at=dt.datetime(year, number, 10, tzinfo=dt.UTC)))
    services.session.commit()
