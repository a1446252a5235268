"""The case file as a PDF (issue 16): a handler who can open a case exports it from the case page.

The PDF holds the metadata, deadlines, status history, the report, the messages both ways,
the notes when asked for, the files with their SHA-256, and a footer on every page naming who
exported it and when. The export is a POST with CSRF, is in the logbook without content, is
streamed from memory (no file on the server), and is refused like the case page is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from appliance.actors import Role
from appliance.services import Services
from tests.functional.pdf_text import pdf_pages, pdf_text, squeezed
from tests.functional.world import LOGGERS, PASSWORD, Markers, Staff, World, count, make_staff, scalar
from tests.support import add_reader, principal
from tests.web import Browser

SWEDISH_NAME = "Åsa Öberg-Ängström"
GERMAN_NAME = "Jürgen Groß"
NOT_SHARED = "This case is not shared with you."


def case_url(case_id: uuid.UUID) -> str:
    return f"/staff/cases/{case_id}"


def export(browser: Browser, case_id: uuid.UUID, with_notes: bool = False) -> TestResponse:
    data = {"with_notes": "y"} if with_notes else {}
    return browser.post(f"{case_url(case_id)}/export", data, form_url=case_url(case_id))


def exports_logged(world: World, case_id: uuid.UUID) -> int:
    return count(world.ctx, "audit_events", "action = 'case.exported_pdf' AND object_id = :id", id=str(case_id))


@pytest.fixture
def newcomer(world: World, services: Services) -> Staff:
    """A handler of alpha on the reader list who joined after the reports: no copy of any case."""
    staff = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER)], "newcomer@alpha.example.com")
    add_reader(services, world.alpha.tenant_id, principal(services, world.alpha.staff[Role.HANDLER].user_id, PASSWORD),
               staff.user_id, receives=False)
    services.session.commit()
    return staff


def test_web_the_case_file_holds_the_case_and_a_footer_on_every_page(world: World) -> None:
    case = world.alpha_case
    handler_staff = world.alpha.staff[Role.HANDLER]
    reporter = world.reporter_browser(world.alpha, case)
    assert reporter.post("/r/alpha/case/reply", {"body": f"Det var {SWEDISH_NAME} och {GERMAN_NAME}."},
                         form_url="/r/alpha/case").status_code == 303
    handler = world.staff_browser(handler_staff)
    url = case_url(case.id)
    assert handler.post(f"{url}/status", {"status": "acknowledged"}, form_url=url).status_code == 303
    assert handler.post(f"{url}/messages", {"body": f"Tack, vi pratar med {SWEDISH_NAME} på måndag."},
                        form_url=url, content_type="multipart/form-data").status_code == 303
    page = handler.get(url).get_data(as_text=True)
    assert "Export as PDF" in page and "Include notes in the PDF" in page

    response = export(handler, case.id)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="case-{case.reference}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    text = pdf_text(response.data)
    for expected in (f"Case file {case.reference}", "Alpha Ltd", case.what, "alpha warehouse",
                     "alpha handler answer", f"Det var {SWEDISH_NAME} och {GERMAN_NAME}.",
                     f"Tack, vi pratar med {SWEDISH_NAME} på måndag.", "Acknowledgement of receipt sent to the reporter.",
                     "Reporter ·", f"Handler: {handler_staff.email} ·", "Deadlines", "Status history", "The reporting portal"):
        assert expected in text, expected
    assert squeezed(f"Received Acknowledged {handler_staff.email}") in squeezed(text)  # the change, and who
    assert case.note not in text  # notes only when asked for
    # Every file with the SHA-256 of what was uploaded (tests/functional/world.py: file_case).
    squeezed_text = squeezed(text)
    for name, content in ((case.attachment_name, b"%PDF " + b"alpha" * 50), ("alpha-answer.txt", b"answer " * 20)):
        assert name in text
        assert hashlib.sha256(content).hexdigest() in squeezed_text
    pages = pdf_pages(response.data)
    for number, page_text in enumerate(pages, start=1):
        assert f"Exported by {handler_staff.email} on " in page_text
        assert f"UTC · Page {number} of {len(pages)}" in page_text

    with_notes = pdf_text(export(handler, case.id, with_notes=True).data)
    assert case.note in with_notes and f"{handler_staff.email} ·" in with_notes


def test_web_the_case_file_is_in_the_swedish_of_the_page(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = case_url(world.alpha_case.id)
    page = handler.get(url, headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Exportera som PDF" in page
    response = handler.post(f"{url}/export", {}, form_url=url, headers={"Accept-Language": "sv"})
    text = pdf_text(response.data)
    assert f"Ärendeakt {world.alpha_case.reference}" in text
    assert "Sida 1 av" in text and "Exporterad av" in text


def test_web_the_export_is_in_the_logbook_without_content_and_leaves_no_trace(
        world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    mark = Markers()
    case = world.alpha_case
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = case_url(case.id)
    reporter = world.reporter_browser(world.alpha, case)
    assert reporter.post("/r/alpha/case/reply", {"body": f"{mark['reply']} {SWEDISH_NAME} 🦊"},
                         form_url="/r/alpha/case").status_code == 303
    assert handler.post(f"{url}/notes", {"body": mark["note"]}, form_url=url).status_code == 303
    # The process's temp dir is this test's own (the machine's /tmp is shared with other runs).
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    places = disk_places(world)
    before = files_under(places)
    caplog.clear()

    response = export(handler, case.id, with_notes=True)
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert mark["reply"] in text and mark["note"] in text and "\ufffd" in text  # the fox has no glyph
    assert files_under(places) == before, "the export left a file behind"
    assert not any(private_tmp.iterdir())
    assert exports_logged(world, case.id) == 1
    assert scalar(world.ctx, "SELECT detail FROM audit_events WHERE action = 'case.exported_pdf'") == "with-notes"
    assert scalar(world.ctx, "SELECT actor_id FROM audit_events WHERE action = 'case.exported_pdf'") == str(
        world.alpha.staff[Role.HANDLER].user_id)
    logged = caplog.text
    assert caplog.records
    for secret in (*mark.all.values(), case.what, SWEDISH_NAME, "🦊"):
        assert secret not in logged
    audit_rows = str(scalar(world.ctx, "SELECT count(*) FROM audit_events WHERE detail LIKE :m OR object_id LIKE :m",
                            m=f"%mk{mark.run}%"))
    assert audit_rows == "0"


def disk_places(world: World) -> list[Path]:
    settings = world.ctx.settings
    return [Path(tempfile.gettempdir()), Path(settings.data_dir), Path(settings.runtime_dir)]  # data_dir: the var dir


def files_under(places: list[Path]) -> set[str]:
    """Every file path under the places, except SQLite's own journal files, which come and go."""
    found = set()
    for place in places:
        for root, _dirs, files in os.walk(place):
            found.update(os.path.join(root, f) for f in files if not f.endswith(("-journal", "-wal", "-shm")))
    return found


def test_web_a_handler_without_a_copy_gets_the_locked_page_not_a_pdf(world: World, newcomer: Staff) -> None:
    browser = world.staff_browser(newcomer)
    case = world.alpha_case
    response = export(browser, case.id, with_notes=True)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert response.headers.get("Content-Disposition") is None
    page = response.get_data(as_text=True)
    assert NOT_SHARED in page and case.reference in page
    assert case.what not in page and case.note not in page
    assert exports_logged(world, case.id) == 0


def test_web_other_tenants_other_roles_and_made_up_ids_get_no_pdf(world: World) -> None:
    case = world.alpha_case
    beta_handler = world.staff_browser(world.beta.staff[Role.HANDLER])
    response = export(beta_handler, case.id)
    assert response.status_code == 404 and case.what not in response.get_data(as_text=True)
    own = world.staff_browser(world.alpha.staff[Role.HANDLER])
    token = own.token(case_url(case.id))
    for path in (f"/staff/cases/{uuid.uuid4()}/export", "/staff/cases/not-a-uuid/export",
                 f"/staff/cases/{world.beta_case.id}/export"):
        assert own.post(path, {"csrf_token": token}, csrf=False).status_code == 404, path
    for role in (Role.ADMIN, Role.AUDITOR, Role.ANALYST):
        other = world.staff_browser(world.alpha.staff[role])
        response = other.post(f"{case_url(case.id)}/export", {"csrf_token": other.token("/staff/account")}, csrf=False)
        assert response.status_code == 403, role
        assert response.mimetype != "application/pdf"
    assert exports_logged(world, case.id) == 0


def test_web_the_export_needs_its_csrf_token_and_a_post(world: World) -> None:
    case = world.alpha_case
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = f"{case_url(case.id)}/export"
    assert handler.post(url, {}, csrf=False).status_code == 400
    assert handler.post(url, {"csrf_token": "forged"}, csrf=False).status_code == 400
    other_session = world.staff_browser(world.target)
    stolen = other_session.token("/staff/account")
    assert handler.post(url, {"csrf_token": stolen}, csrf=False).status_code == 400
    assert handler.get(url).status_code == 405
    assert exports_logged(world, case.id) == 0
