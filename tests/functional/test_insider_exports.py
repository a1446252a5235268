"""Insider-list exports: the template's headers, order and formats in CSV, XLSX and PDF; the 2022/1210
templates for a moment before 2026/1291 applied; transmissions; the logbook names no content."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import uuid
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.errors import InvalidInput
from appliance.insiders.templates import EVENT, PERMANENT, template_for
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.insiders_support import AFTER_2026_ITS, details
from tests.functional.pdf_text import pdf_pages
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session
T0 = AFTER_2026_ITS
BEFORE_2026_ITS = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)


def _list(services: Services, org: Org, start: dt.datetime) -> uuid.UUID:
    lists = services.insider_lists
    section = lists.create_section(org.tenant.id, "Falcon", "Takeover", start, CLI)
    lists.add_insider(org.tenant.id, section, details("Anna", national_id="19800101-1234"),
                      start + dt.timedelta(hours=1, minutes=7), CLI)
    lists.add_insider(org.tenant.id, section, details("Bo", provider="Law Firm LLP",
                                                      function_reason="=HYPERLINK(\"http://evil\")"),
                      start + dt.timedelta(hours=2), CLI, ceased=start + dt.timedelta(hours=3))
    return section


def _csv_table(data: bytes) -> tuple[list[list[str]], list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    blank = rows.index([])
    return rows[:blank], rows[blank + 1], rows[blank + 2:]


def test_csv_has_the_2026_template_headers_order_and_formats(services: Services, org_a: Org,
                                                             clock: FrozenClock) -> None:
    clock.now = T0 + dt.timedelta(days=1)
    section = _list(services, org_a, T0)
    heading, header, rows = _csv_table(services.insider_exports.export(org_a.tenant.id, section, "csv", None, CLI))
    template = template_for(EVENT, clock.now)
    assert template.regulation == "(EU) 2026/1291"
    assert header == list(template.headers)
    assert ["Date and time of identification of the inside information", "2026-09-01T12:00 UTC"] in heading
    anna, bo = rows
    by = dict(zip(template.fields, anna, strict=True))
    assert (by["first_name"], by["surname"], by["obtained"], by["ceased"]) == ("Anna", "LindAnna",
                                                                                "2026-09-01T13:07 UTC", "")
    assert (by["national_id"], by["date_of_birth"], by["professional_phone"]) == ("198001011234", "01/01/1980",
                                                                                   "+46812345678")
    bo_by = dict(zip(template.fields, bo, strict=True))
    assert bo_by["ceased"] == "2026-09-01T15:00 UTC"
    assert bo_by["function_reason"].startswith("'=")  # never a formula in a spreadsheet


def test_xlsx_headers_equal_the_template_and_no_cell_is_a_formula(services: Services, org_a: Org,
                                                                   clock: FrozenClock) -> None:
    clock.now = T0 + dt.timedelta(days=1)
    section = _list(services, org_a, T0)
    data = services.insider_exports.export(org_a.tenant.id, section, "xlsx", None, CLI)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    template = template_for(EVENT, clock.now)
    header_row = next(i for i, row in enumerate(values) if row[0] == template.headers[0])
    assert tuple(values[header_row][:len(template.headers)]) == template.headers
    assert values[header_row + 1][0] == "Anna"
    assert all(c.data_type == "s" for row in sheet.iter_rows() for c in row if c.value is not None)


def test_a_moment_before_2026_1291_applied_uses_the_2022_1210_templates(services: Services, org_a: Org,
                                                                          clock: FrozenClock) -> None:
    clock.now = BEFORE_2026_ITS + dt.timedelta(days=1)
    section = _list(services, org_a, BEFORE_2026_ITS)
    services.insider_lists.open_permanent_section(org_a.tenant.id, CLI, since=BEFORE_2026_ITS)
    clock.now = T0
    before = BEFORE_2026_ITS + dt.timedelta(hours=4)
    _heading, header, rows = _csv_table(services.insider_exports.export(org_a.tenant.id, section, "csv", before, CLI))
    old = template_for(EVENT, before)
    assert old.regulation == "(EU) 2022/1210" and header == list(old.headers)
    by = dict(zip(old.fields, rows[0], strict=True))
    assert (by["obtained"], by["date_of_birth"]) == ("2026-05-04, 09:07 UTC", "1980-01-01")
    assert by["home_address"].startswith("Storgatan 1")
    _heading, header_now, _rows = _csv_table(services.insider_exports.export(org_a.tenant.id, section, "csv", T0,
                                                                              CLI))
    assert header_now == list(template_for(EVENT, T0).headers) != header
    whole = services.insider_exports.export(org_a.tenant.id, None, "csv", before, CLI).decode("utf-8-sig")
    assert ",".join(template_for(PERMANENT, before).headers[:3]) in whole


def test_pdf_holds_the_rows(services: Services, org_a: Org, clock: FrozenClock, tmp_path: Path) -> None:
    clock.now = T0 + dt.timedelta(days=1)
    section = _list(services, org_a, T0)
    services.insider_lists.add_insider(org_a.tenant.id, section, details("Åsa", surname="Öberg"), T0, CLI)
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(services.insider_exports.export(org_a.tenant.id, None, "pdf", None, CLI))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("LindAnna", "Öberg", "2026-09-01T13:07 UTC", "198001011234", "(EU) 2026/1291"):
        assert expected in text


def test_pdf_keeps_swedish_letters_in_the_bundled_font(services: Services, org_a: Org, clock: FrozenClock) -> None:
    clock.now = T0 + dt.timedelta(days=1)
    section = services.insider_lists.create_section(org_a.tenant.id, "Älgen", "Förvärv", T0, CLI)
    services.insider_lists.add_insider(org_a.tenant.id, section, details("Åsa", surname="Håkansson-Älvö"), T0, CLI)
    services.insider_lists.create_section(org_a.tenant.id, "Örnen", "Avyttring", T0, CLI)
    pages = pdf_pages(services.insider_exports.export(org_a.tenant.id, None, "pdf", None, CLI))
    assert len(pages) == 2  # each section on a page of its own
    assert "Älgen" in pages[0] and "Håkansson-Älvö" in pages[0] and "Åsa" in pages[0] and "Örnen" in pages[1]
    assert "?" not in "".join(pages)  # no letter fell back to a replacement


def test_exports_and_transmissions_are_logged_without_content(services: Services, org_a: Org,
                                                              clock: FrozenClock) -> None:
    clock.now = T0 + dt.timedelta(days=2)
    section = _list(services, org_a, T0)
    exports = services.insider_exports
    exports.export(org_a.tenant.id, section, "xlsx", None, CLI)
    exports.record_transmission(org_a.tenant.id, section, "xlsx", T0 + dt.timedelta(days=1), clock.now.date(), CLI)
    heading, _header, _rows = _csv_table(exports.export(org_a.tenant.id, section, "csv", None, CLI))
    assert ["Date of transmission to the competent authority", clock.now.strftime("%d/%m/%Y")] in heading
    with pytest.raises(InvalidInput):
        exports.record_transmission(org_a.tenant.id, section, "csv", T0, clock.now.date() + dt.timedelta(days=1),
                                    CLI)
    with pytest.raises(InvalidInput):
        exports.export(org_a.tenant.id, section, "docx", None, CLI)
    events = services.session.execute(sa.select(AuditEvent).where(AuditEvent.action.in_(
        ["insider.exported", "insider.transmitted"]))).scalars().all()
    assert [e.action for e in events] == ["insider.exported", "insider.transmitted", "insider.exported"]
    assert all(e.object_id == str(section) and e.actor_type == "cli" for e in events)
    assert "format=xlsx" in (events[0].detail or "")
    assert all("Anna" not in (e.detail or "") and "Falcon" not in (e.detail or "") for e in events)
