"""Queue tests' helpers: many cases inserted in bulk (metadata only), and paging to the end."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterable

import sqlalchemy as sa

from appliance.actors import StaffPrincipal
from appliance.cases.models import Case, queue_columns
from appliance.cases.queue_filter import QueueFilter
from appliance.cases.read_models import QueueRow
from appliance.crypto.fields import Sealed
from appliance.services import Services

PLACEHOLDER = Sealed(b"\x01" + (1).to_bytes(4, "big") + bytes(12) + bytes(16))  # an envelope's shape, opens to nothing


def insert_cases(services: Services, tenant_id: uuid.UUID, category_id: uuid.UUID,
                 specs: Iterable[tuple[dt.datetime, dt.datetime | None, dt.datetime | None, str]]) -> list[uuid.UUID]:
    """Cases of (received, acknowledged, feedback, status) as a bulk INSERT with the derived queue
    columns. The queue reads metadata only, so their content is a placeholder never opened (and
    ``public_key`` NULL: a case from before sealed keys, open to every handler of the tenant)."""
    rows = []
    for received, acknowledged, feedback, status in specs:
        case_id = uuid.uuid4()
        while _reference(case_id) in _GIVEN:  # 8 hex digits: 1,200 cases collide about once in 6,000 runs
            case_id = uuid.uuid4()
        _GIVEN.add(_reference(case_id))
        rows.append({"id": case_id, "tenant_id": tenant_id, "reference": _reference(case_id),
                     "category_id": category_id, "status": status, "received_at": received,
                     "acknowledged_at": acknowledged, "feedback_at": feedback, "updated_at": received,
                     "case_key_index": os.urandom(32), "what_sealed": PLACEHOLDER,
                     **queue_columns(received, acknowledged, feedback, status)})
    for start in range(0, len(rows), 400):
        services.session.execute(sa.insert(Case), rows[start:start + 400])
    services.session.commit()
    return [row["id"] for row in rows]


_GIVEN: set[str] = set()  # every reference this process inserted (cases.reference is unique)


def _reference(case_id: uuid.UUID) -> str:
    raw = case_id.hex.upper().replace("I", "1").replace("L", "1").replace("O", "0").replace("U", "V")
    return f"{raw[:4]}-{raw[4:8]}"


def all_pages(services: Services, principal: StaffPrincipal, filters: QueueFilter, page_size: int = 50,
              backwards_from: str | None = None) -> list[list[QueueRow]]:
    """Every page from the first (or, with ``backwards_from``, from that cursor to the first,
    following Previous links)."""
    pages = []
    cursor = backwards_from
    while True:
        page = services.cases.queue_page(principal, filters, cursor, page_size)
        pages.append(page.rows)
        cursor = page.previous_cursor if backwards_from else page.next_cursor
        if cursor is None:
            return pages
        if len(pages) > 10_000:
            raise AssertionError("paging does not end")
