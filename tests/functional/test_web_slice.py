"""The whole slice through the real Flask app: report → handler (password + TOTP) → answer → reporter."""

from __future__ import annotations

from appliance.actors import CLI, Role
from appliance.services import Services
from tests.support import FrozenClock, principal, start_reader_list
from tests.web import Browser, file, sign_in, submit_report


def test_report_travels_to_handler_and_back(app, services: Services, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    tenant = services.tenants.create_tenant("Example AB", "example", CLI)
    officer, enrolment = services.users.create_user("officer@example.com", "correct horse battery",
                                                    [(tenant.id, Role.HANDLER), (tenant.id, Role.ADMIN)], CLI,
                                                    with_totp=True, chosen_by_user=True)
    me = principal(services, officer.id, "correct horse battery")
    start_reader_list(services, tenant.id, me, me)  # a one-person compliance team confirms itself
    category = services.tenants.categories(tenant.id)[0]
    services.session.commit()
    assert enrolment is not None

    reporter = Browser(app)
    assert reporter.get("/r/example/").status_code == 200
    key = submit_report(reporter, "example", str(category.id), when="last week", where="warehouse",
                        people="the manager", attachments=[file("evidence.pdf", b"%PDF-1.4 evidence" * 1000)])

    handler = Browser(app)
    # First sign-in: not enrolled yet from the web's point of view? CLI enrolment makes the secret, the
    # first code completes enrolment.
    response = sign_in(handler, "officer@example.com", "correct horse battery", enrolment.secret, clock)
    assert response.status_code == 200, handler.text()
    assert "recovery codes" in handler.text().lower()
    queue = handler.get("/staff/queue")
    assert queue.status_code == 200
    page = handler.text()
    assert "Acknowledge by" in page
    case_url = page.split('href="/staff/cases/')[1].split('"')[0]
    case_page = handler.get(f"/staff/cases/{case_url}")
    assert "Something happened" in handler.text() and "warehouse" in handler.text()
    attachment_path = handler.text().split(f'href="/staff/cases/{case_url}/attachments/')[1].split('"')[0]
    download = handler.get(f"/staff/cases/{case_url}/attachments/{attachment_path}")
    assert download.data == b"%PDF-1.4 evidence" * 1000
    assert download.headers["Content-Disposition"].startswith("attachment;")

    assert handler.post(f"/staff/cases/{case_url}/status", {"status": "acknowledged"},
                        form_url=f"/staff/cases/{case_url}").status_code == 303
    assert handler.post(f"/staff/cases/{case_url}/messages", {"body": "Thank you, we are looking into it.",
                                                              "is_feedback": "y"},
                        form_url=f"/staff/cases/{case_url}", content_type="multipart/form-data").status_code == 303
    assert handler.post(f"/staff/cases/{case_url}/notes", {"body": "internal only"},
                        form_url=f"/staff/cases/{case_url}").status_code == 303
    assert case_page.status_code == 200

    assert reporter.post("/r/example/follow-up", {"case_key": key.lower()}).status_code == 303
    thread = reporter.get("/r/example/case")
    assert thread.status_code == 200
    assert "Thank you, we are looking into it." in reporter.text()
    assert "internal only" not in reporter.text()
    assert "acknowledged" in reporter.text().lower()
    assert reporter.post("/r/example/case/reply", {"body": "More details here"}, form_url="/r/example/case",
                         content_type="multipart/form-data").status_code == 303
    handler.get(f"/staff/cases/{case_url}")
    assert "More details here" in handler.text()
    assert services.logbook.verify().ok
