"""Consent to disclose the reporter's identity and redaction through the web (Directive 2019/1937
Art. 16-17): the handler asks, the reporter answers once with the case key; disclosures need a
consent or a legal ground; redactions are what the case page, the reporter and the PDF show."""

from __future__ import annotations

import logging
import re
import uuid

import pytest

from appliance.actors import Role
from tests.functional.pdf_text import pdf_text
from tests.functional.world import World, audit_details
from tests.web import Browser

XSS = '<script>alert("consent")</script>'
NAMES = f"RECIPIENT-WEB-MARKER Jane Roe {XSS}"
PURPOSE = f"PURPOSE-WEB-MARKER an interview {XSS}"
REASON = f"REASON-WEB-MARKER not relevant {XSS}"
EXPLAINED = f"EXPLAINED-WEB-MARKER the police asked for your name {XSS}"
WITHHELD = f"WITHHELD-WEB-MARKER they would warn the suspect {XSS}"
REQUEST_ID = re.compile(r'/case/consent/([0-9a-f-]{36})"')
REDACTION_ID = re.compile(r'/redactions/([0-9a-f-]{36})/purge[#"]')


def case_url(case_id: uuid.UUID) -> str:
    return f"/staff/cases/{case_id}"


def ask(world: World, handler: Browser, case_id: uuid.UUID) -> None:
    response = handler.post(f"{case_url(case_id)}/consent", {"recipients": NAMES, "purpose": PURPOSE},
                            form_url=case_url(case_id))
    assert response.status_code == 303, handler.text()


def answer(world: World, reporter: Browser, value: str) -> tuple[int, str]:
    case = f"/r/{world.alpha.slug}/case"
    page = reporter.get(case).get_data(as_text=True)
    found = REQUEST_ID.search(page)
    assert found, page
    response = reporter.post(f"{case}/consent/{found.group(1)}", {"answer": value}, form_url=case)
    return response.status_code, found.group(1)


def test_consent_asked_given_once_and_a_disclosure_recorded_on_it(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case = world.alpha_case
    ask(world, handler, case.id)
    page = handler.get(case_url(case.id)).get_data(as_text=True)
    assert "Waiting for the reporter" in page and XSS not in page and "&lt;script&gt;" in page

    reporter = world.reporter_browser(world.alpha, case)
    mine = reporter.get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)
    assert "RECIPIENT-WEB-MARKER" in mine and "PURPOSE-WEB-MARKER" in mine and XSS not in mine
    status, request_id = answer(world, reporter, "given")
    assert status == 303
    replay = reporter.post(f"/r/{world.alpha.slug}/case/consent/{request_id}", {"answer": "refused"},
                           form_url=f"/r/{world.alpha.slug}/case")
    assert replay.status_code == 409 and "You have already answered this request." in reporter.text()
    assert "You consented on" in reporter.get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)

    page = handler.get(case_url(case.id)).get_data(as_text=True)
    assert "Consent given" in page
    no_basis = handler.post(f"{case_url(case.id)}/disclosures", {"recipients": NAMES, "basis": ""},
                            form_url=case_url(case.id))
    assert no_basis.status_code == 400 and "Choose a consent the reporter gave, or a legal ground." in handler.text()
    on_consent = handler.post(f"{case_url(case.id)}/disclosures",
                              {"recipients": NAMES, "basis": f"consent:{request_id}"}, form_url=case_url(case.id))
    assert on_consent.status_code == 303, handler.text()
    page = handler.get(case_url(case.id)).get_data(as_text=True)
    assert "On the reporter" in page, page[page.find("data-testid=\"disclosures\""):][:1500]

    assert audit_details(world.ctx, "case.consent_answered") == [f"request={request_id} answer=given"]
    assert [d.split()[1] for d in audit_details(world.ctx, "case.identity_disclosed") if d] == ["basis=consent"]
    for marker in ("RECIPIENT-WEB-MARKER", "PURPOSE-WEB-MARKER", "Jane Roe"):
        assert marker not in caplog.text


def test_consent_refused_leaves_only_a_legal_ground(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case = world.alpha_case
    ask(world, handler, case.id)
    status, request_id = answer(world, world.reporter_browser(world.alpha, case), "refused")
    assert status == 303
    assert "Consent refused" in handler.get(case_url(case.id)).get_data(as_text=True)
    on_refused = handler.post(f"{case_url(case.id)}/disclosures",
                              {"recipients": NAMES, "basis": f"consent:{request_id}"}, form_url=case_url(case.id))
    assert on_refused.status_code == 400
    without_text = handler.post(f"{case_url(case.id)}/disclosures", {"recipients": NAMES, "basis": "ground:judicial"},
                                form_url=case_url(case.id))
    assert without_text.status_code == 400 and "Explain the legal ground" in handler.text()
    on_ground = handler.post(f"{case_url(case.id)}/disclosures",
                             {"recipients": NAMES, "basis": "ground:judicial", "ground": f"Court order {XSS}",
                              "notice": "withheld", "withheld_reason": WITHHELD},
                             form_url=case_url(case.id))
    assert on_ground.status_code == 303
    page = handler.get(case_url(case.id)).get_data(as_text=True)
    assert "Legal ground: judicial proceedings" in page and XSS not in page


def on_ground(handler: Browser, case_id: uuid.UUID, **fields: str) -> int:
    data = {"recipients": NAMES, "basis": "ground:investigation", "ground": "GROUND-WEB-MARKER a police request"}
    return handler.post(f"{case_url(case_id)}/disclosures", data | fields, form_url=case_url(case_id)).status_code


def test_a_disclosure_on_a_legal_ground_is_refused_without_the_art_16_2_choice(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case = world.alpha_case
    assert on_ground(handler, case.id) == 400
    assert "Say whether the reporter is informed before the disclosure." in handler.text()
    assert on_ground(handler, case.id, notice="perhaps") == 400
    assert on_ground(handler, case.id, notice="informed", explanation="  ") == 400
    assert "Write the explanation the reporter will read" in handler.text()
    assert on_ground(handler, case.id, notice="withheld", withheld_reason="") == 400
    assert "Say why informing the reporter would jeopardise" in handler.text()
    assert on_ground(handler, case.id, notice="withheld", withheld_reason="x" * 2_001) == 400
    assert "No disclosure recorded." in handler.get(case_url(case.id)).get_data(as_text=True)
    assert audit_details(world.ctx, "case.identity_disclosed") == []


def test_the_reporter_informed_reads_the_explanation_and_a_withheld_reason_stays_with_the_handlers(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case = world.alpha_case
    assert on_ground(handler, case.id, notice="informed", explanation=EXPLAINED) == 303
    assert on_ground(handler, case.id, notice="withheld", withheld_reason=WITHHELD) == 303

    page = handler.get(case_url(case.id)).get_data(as_text=True)
    assert 'data-testid="disclosure-informed"' in page and 'data-testid="disclosure-withheld"' in page
    assert "WITHHELD-WEB-MARKER" in page and XSS not in page
    mine = world.reporter_browser(world.alpha, case).get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)
    assert "EXPLAINED-WEB-MARKER" in mine and XSS not in mine and "&lt;script&gt;" in mine
    assert "WITHHELD-WEB-MARKER" not in mine and "GROUND-WEB-MARKER" not in mine

    details = [d.split(maxsplit=1)[1] for d in audit_details(world.ctx, "case.identity_disclosed") if d]
    assert sorted(details) == ["basis=ground:investigation reporter=informed",
                               "basis=ground:investigation reporter=withheld"]
    logbook = " ".join(d or "" for action in ("case.identity_disclosed", "message.sent")
                       for d in audit_details(world.ctx, action))
    for marker in ("EXPLAINED-WEB-MARKER", "WITHHELD-WEB-MARKER", "GROUND-WEB-MARKER", "RECIPIENT-WEB-MARKER"):
        assert marker not in caplog.text and marker not in logbook


def test_a_reporter_of_another_case_or_tenant_cannot_answer_and_staff_of_others_cannot_ask(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    ask(world, handler, world.alpha_case.id)
    page = world.reporter_browser(world.alpha, world.alpha_case).get(f"/r/{world.alpha.slug}/case")
    found = REQUEST_ID.search(page.get_data(as_text=True))
    assert found
    request_id = found.group(1)

    other = world.reporter_browser(world.alpha, world.alpha_other_case, "192.0.2.11")
    tampered = other.post(f"/r/{world.alpha.slug}/case/consent/{request_id}", {"answer": "given"},
                          form_url=f"/r/{world.alpha.slug}/case")
    assert tampered.status_code == 404
    beta_reporter = world.reporter_browser(world.beta, world.beta_case, "192.0.2.12")
    assert beta_reporter.post(f"/r/{world.beta.slug}/case/consent/{request_id}", {"answer": "given"},
                              form_url=f"/r/{world.beta.slug}/case").status_code == 404
    no_csrf = other.post(f"/r/{world.alpha.slug}/case/consent/{request_id}", {"answer": "given"}, csrf=False)
    assert no_csrf.status_code == 400
    assert audit_details(world.ctx, "case.consent_answered") == []

    beta_handler = world.staff_browser(world.beta.staff[Role.HANDLER])
    refused = beta_handler.post(f"{case_url(world.alpha_case.id)}/consent", {"recipients": NAMES, "purpose": PURPOSE},
                                form_url="/staff/queue")
    assert refused.status_code == 404
    auditor = world.staff_browser(world.alpha.staff[Role.AUDITOR])
    assert auditor.post(f"{case_url(world.alpha_case.id)}/consent", {"recipients": NAMES, "purpose": PURPOSE},
                        form_url="/staff/account").status_code in (403, 404)


def test_a_redacted_passage_is_gone_from_the_case_page_the_reporter_and_the_pdf(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case = world.alpha_case
    passage = case.what.split()[-1]  # the report's unique hex
    form = handler.get(f"{case_url(case.id)}/redact").get_data(as_text=True)
    assert passage in form and 'value="report:what"' in form

    missing = handler.post(f"{case_url(case.id)}/redact", {"target": "report:what", "passage": "no such words",
                                                           "reason": REASON, "keep": "retain"})
    assert missing.status_code == 400 and "Copy a passage exactly" in handler.text()
    done = handler.post(f"{case_url(case.id)}/redact", {"target": "report:what", "passage": passage,
                                                        "reason": REASON, "keep": "retain"})
    assert done.status_code == 303, handler.text()
    page = handler.get(case_url(case.id)).get_data(as_text=True)
    assert passage not in page and "[redacted]" in page and XSS not in page and "REASON-WEB-MARKER" in page
    assert "Original kept sealed (legal hold)" in page

    mine = world.reporter_browser(world.alpha, case).get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)
    assert passage not in mine and "[redacted]" in mine
    pdf = handler.post(f"{case_url(case.id)}/export", {}, form_url=case_url(case.id))
    assert pdf.status_code == 200
    text = pdf_text(pdf.get_data())
    assert passage not in text and "[redacted]" in text

    # The file, too: gone from the page, the PDF and the download.
    taken = handler.post(f"{case_url(case.id)}/redact", {"target": f"attachment:{case.attachment_id}", "passage": "",
                                                         "reason": REASON, "keep": "purge"})
    assert taken.status_code == 303, handler.text()
    assert case.attachment_name not in handler.get(case_url(case.id)).get_data(as_text=True)
    assert handler.get(f"{case_url(case.id)}/attachments/{case.attachment_id}").status_code == 404

    # The newest retained redaction is the report's (the world's own note redaction is older).
    redaction_id = REDACTION_ID.findall(handler.get(case_url(case.id)).get_data(as_text=True))[-1]
    purged = handler.post(f"{case_url(case.id)}/redactions/{redaction_id}/purge", form_url=case_url(case.id))
    assert purged.status_code == 303
    again = handler.post(f"{case_url(case.id)}/redactions/{redaction_id}/purge", form_url=case_url(case.id))
    assert again.status_code == 409
    assert sorted(d.split()[1] for d in audit_details(world.ctx, "case.redaction_purged") if d) == [
        "target=attachment", "target=report"]
    assert passage not in caplog.text and "REASON-WEB-MARKER" not in caplog.text


def test_redaction_refuses_tampered_targets_other_tenants_and_handlers_without_the_case(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case = world.alpha_case
    url = f"{case_url(case.id)}/redact"
    before = audit_details(world.ctx, "case.redacted")
    for target in ("report:case_key_index", "cases:what", f"attachment:{world.beta_case.attachment_id}",
                   "attachment:not-a-uuid", f"note:{uuid.uuid4()}"):
        response = handler.post(url, {"target": target, "passage": "report", "reason": REASON, "keep": "purge"})
        assert response.status_code in (400, 404), target
    oversized = handler.post(url, {"target": "report:what", "passage": "x" * 20_001, "reason": REASON, "keep": "purge"})
    assert oversized.status_code == 400
    beta_handler = world.staff_browser(world.beta.staff[Role.HANDLER])
    assert beta_handler.get(url).status_code == 404
    assert beta_handler.post(url, {"target": "report:what", "passage": "report", "reason": REASON, "keep": "purge"},
                             form_url="/staff/queue").status_code == 404
    assert audit_details(world.ctx, "case.redacted") == before
