"""Attachments on the way out: never shown inline, never as a type a browser would run, and a
handler's copy without metadata (mat2) next to the untouched original."""

from __future__ import annotations

import io
import re
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.audit.models import AuditEvent
from appliance.cases.attachments import Upload
from appliance.cases.reporting import NewReport
from appliance.services import Services
from tests.functional.test_metadata_removal import gps_of, jpeg_with_gps, needs_mat2
from tests.functional.world import World
from tests.web import file, receipt_key

SANDBOX = "default-src 'none'; sandbox"
HOSTILE = {
    # name, declared type, content: each would run script if a browser rendered it
    "invoice.html": ("text/plain", b"<!doctype html><script>alert(document.cookie)</script>"),
    "logo.svg": ("image/png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    "photo.jpg": ("image/jpeg", b'  <svg xmlns="http://www.w3.org/2000/svg" onload="alert(2)"/>'),
    "notes.txt": ("text/plain", b"<html><body><script>alert(3)</script>"),
    "app.js": ("text/plain", b"fetch('/staff/queue').then(r => r.text())"),
}


def file_with(services: Services, world: World, uploads: list[Upload], what: str = "files") -> uuid.UUID:
    tenant = services.tenants.by_slug(world.alpha.slug)
    receipt = services.reporting.submit(tenant, NewReport(world.alpha.category_id, what), uploads)
    services.session.commit()
    return receipt.case_id


def attachment_links(page: str, case_id: uuid.UUID) -> dict[str, str]:
    """{file name: download path} from the handler's case page."""
    return {name: href for href, name in re.findall(
        rf'<a href="(/staff/cases/{case_id}/attachments/[0-9a-f-]{{36}})">([^<]+)</a>', page)}


def assert_download_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["Content-Disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == SANDBOX


def test_active_files_go_out_as_octet_stream_attachments_whatever_they_claim(world: World) -> None:
    reporter = world.browser("192.0.2.40")
    key = receipt_key(reporter, reporter.post(
        "/r/alpha/report", {"category": str(world.alpha.category_id), "what": "hostile files",
                            "attachments": [file(n, data, t) for n, (t, data) in HOSTILE.items()]},
        content_type="multipart/form-data"))
    assert reporter.post("/r/alpha/follow-up", {"case_key": key}).status_code == 303
    page = reporter.get("/r/alpha/case").get_data(as_text=True)
    reporter_links = dict((n, h) for h, n in re.findall(r'<a href="(/r/alpha/case/attachments/[0-9a-f-]{36})">([^<]+)</a>',
                                                         page))
    assert set(reporter_links) == set(HOSTILE)
    for name, link in reporter_links.items():
        response = reporter.get(link)
        assert response.status_code == 200 and response.data == HOSTILE[name][1]
        assert response.mimetype == "application/octet-stream", name
        assert_download_headers(response)


def test_a_unicode_name_keeps_an_ascii_fallback_and_the_exact_name(world: World, services: Services) -> None:
    name = 'Rapport "Q3"; åäö %20 résumé.pdf'
    case_id = file_with(services, world, [Upload(name, "application/pdf", io.BytesIO(b"%PDF-1.4 body"))])
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    (link,) = attachment_links(page, case_id).values()
    response = handler.get(link)
    disposition = response.headers["Content-Disposition"]
    assert response.mimetype == "application/pdf"
    assert disposition == ("attachment; filename=\"Rapport _Q3__ ___ _20 r_sum_.pdf\"; filename*=UTF-8''"
                           "Rapport%20%22Q3%22%3B%20%C3%A5%C3%A4%C3%B6%20%2520%20r%C3%A9sum%C3%A9.pdf")


@needs_mat2
def test_a_handler_downloads_a_photo_without_its_gps_position(world: World, services: Services) -> None:
    photo = jpeg_with_gps("Jane Reporter")
    case_id = file_with(services, world, [Upload("IMG_0042.jpg", "image/jpeg", io.BytesIO(photo))])
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    original = attachment_links(page, case_id)["IMG_0042.jpg"]
    assert f'href="{original}/cleaned" data-testid="cleaned-link"' in page

    cleaned = handler.get(f"{original}/cleaned")
    assert cleaned.status_code == 200 and cleaned.mimetype == "image/jpeg"
    assert gps_of(cleaned.data) == {} and b"Jane Reporter" not in cleaned.data
    assert cleaned.headers["Content-Length"] == str(len(cleaned.data))
    attachment_id = original.rsplit("/", 1)[1]
    neutral = f"file-{uuid.UUID(attachment_id).hex[:8]}.jpg"
    assert cleaned.headers["Content-Disposition"] == f"attachment; filename=\"{neutral}\"; filename*=UTF-8''{neutral}"
    assert_download_headers(cleaned)
    kept = handler.get(original)
    assert kept.data == photo and gps_of(kept.data)  # the original stays as it was

    with world.ctx.sessions() as session:
        details = session.execute(sa.select(AuditEvent.detail, AuditEvent.object_type).where(
            AuditEvent.action == "attachment.downloaded", AuditEvent.object_id == attachment_id)
            .order_by(AuditEvent.seq)).all()
        logbook = " ".join(str(tuple(row)) for row in session.execute(sa.select(
            AuditEvent.action, AuditEvent.object_id, AuditEvent.detail)))
        session.rollback()
    assert [tuple(d) for d in details] == [("cleaned", "attachment"), ("original", "attachment")]
    assert "IMG_0042" not in logbook and "Jane Reporter" not in logbook


def test_a_file_mat2_cannot_clean_says_so_and_the_original_stays(world: World, services: Services) -> None:
    case_id = file_with(services, world, [Upload("notes.txt", "text/plain", io.BytesIO(b"plain notes"))])
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    original = attachment_links(page, case_id)["notes.txt"]
    assert f"{original}/cleaned" not in page  # not offered for a type mat2 does not clean
    refused = handler.get(f"{original}/cleaned")
    assert refused.status_code == 422
    assert 'data-testid="not-cleaned"' in refused.get_data(as_text=True)
    assert f'href="{original}"' in refused.get_data(as_text=True)
    assert handler.get(original).data == b"plain notes"


def test_without_mat2_the_page_says_so(world: World, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = f"/staff/cases/{world.alpha_case.id}/attachments/{world.alpha_case.attachment_id}"
    refused = handler.get(f"{url}/cleaned")
    assert refused.status_code == 503 and "mat2" in refused.get_data(as_text=True)


def test_the_cleaned_copy_is_for_the_case_s_handlers_only(world: World) -> None:
    case = world.alpha_case
    url = f"/staff/cases/{case.id}/attachments/{case.attachment_id}/cleaned"
    beta_handler = world.staff_browser(world.beta.staff[Role.HANDLER])
    assert beta_handler.get(url).status_code == 404  # another tenant's case
    assert beta_handler.get(f"/staff/cases/{world.beta_case.id}/attachments/{case.attachment_id}/cleaned"
                            ).status_code == 404  # a tampered pair: alpha's file under beta's case
    for role in (Role.AUDITOR, Role.ANALYST, Role.ADMIN):
        assert world.staff_browser(world.alpha.staff[role]).get(url).status_code in (403, 404), role
    reporter = world.reporter_browser(world.alpha, case)
    assert reporter.get(url).status_code in (302, 303, 401, 403, 404)
    assert world.browser().get(url).status_code in (302, 303, 401, 403)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert handler.get(f"/staff/cases/{case.id}/attachments/{uuid.uuid4()}/cleaned").status_code == 404
    assert handler.get(f"/staff/cases/{case.id}/attachments/not-a-uuid/cleaned").status_code == 404
