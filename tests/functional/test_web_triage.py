"""Closing at triage over HTTP: the form on the case page, a confirmation page before anything
changes, refusals as a clear 400 on the form (one answer for an unknown reference and another
tenant's), other roles, tenants and forged requests refused, the reporter's page, the logbook."""

from __future__ import annotations

import html
import logging
import re

import pytest

from appliance.actors import Role
from tests.functional.world import LOGGERS, World, assert_other_roles_refused, audit_details, scalar

ERROR = re.compile(r'<span class="error" id="triage-duplicate_of-error">(.*?)</span>', re.S)


def url(world: World, case_id: object = None) -> str:
    return f"/staff/cases/{case_id or world.alpha_other_case.id}/triage"


def status(world: World, case_id: object = None) -> tuple[object, object, object]:
    case = case_id or world.alpha_other_case.id
    return (scalar(world.ctx, "SELECT status FROM cases WHERE id = :c", c=case),
            scalar(world.ctx, "SELECT outcome FROM cases WHERE id = :c", c=case),
            scalar(world.ctx, "SELECT duplicate_of_id FROM cases WHERE id = :c", c=case))


def duplicate_error(page: str) -> str:
    found = ERROR.search(page)
    assert found, "no error on the reference field"
    return html.unescape(found.group(1))


def test_close_as_a_duplicate_after_the_confirmation_page(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case_page = f"/staff/cases/{world.alpha_other_case.id}"
    assert browser.get(case_page).status_code == 200
    assert 'data-testid="triage"' in browser.text() and "For spam and duplicates only." in browser.text()

    first = browser.post(url(world), {"outcome": "duplicate", "duplicate_of": world.alpha_case.reference.lower()},
                         form_url=case_page)
    assert first.status_code == 200 and 'data-testid="triage-warning"' in browser.text()
    assert world.alpha_case.reference in browser.text() and 'name="confirmed" value="yes"' in browser.text()
    assert status(world)[0] == "received"  # the first submit changes nothing

    done = browser.post(url(world), {"outcome": "duplicate", "duplicate_of": world.alpha_case.reference,
                                     "confirmed": "yes"}, form_url=case_page)
    assert done.status_code == 303 and done.headers["Location"].endswith(f"{case_page}?done=closed-at-triage#status")
    assert status(world)[:2] == ("closed", "duplicate")
    page = browser.get(case_page).get_data(as_text=True)
    assert 'data-testid="closed-at-triage"' in page and 'data-testid="triage"' not in page
    assert f'href="/staff/cases/{world.alpha_case.id}" data-testid="duplicate-of">{world.alpha_case.reference}</a>' in page
    assert audit_details(world.ctx, "case.closed_at_triage") == [f"duplicate-of={world.alpha_case.reference}"]
    details = " ".join(d or "" for d in audit_details(world.ctx, "case.status_changed"))
    for secret in (world.alpha_other_case.what, world.alpha_other_case.note, world.alpha_case.what):
        assert secret not in details and secret not in caplog.text


def test_the_reporter_reads_that_the_report_was_closed_and_by_whom_not(world: World) -> None:
    handler = world.alpha.staff[Role.HANDLER]
    browser = world.staff_browser(handler)
    browser.post(url(world), {"outcome": "not-a-report", "confirmed": "yes"}, form_url="/staff/account")
    assert status(world)[:2] == ("closed", "not-a-report")

    reporter = world.reporter_browser(world.alpha, world.alpha_other_case)
    page = reporter.get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)
    assert 'data-testid="closed-at-triage"' in page
    assert "closed without being handled as a report" in page
    assert handler.email not in page and world.alpha_case.reference not in page


def test_a_duplicate_names_the_earlier_case_to_the_reporter_only_as_an_earlier_report(world: World) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    browser.post(url(world), {"outcome": "duplicate", "duplicate_of": world.alpha_case.reference, "confirmed": "yes"},
                 form_url="/staff/account")
    page = world.reporter_browser(world.alpha, world.alpha_other_case).get(f"/r/{world.alpha.slug}/case").get_data(
        as_text=True)
    assert "closed as a duplicate of an earlier report" in page
    assert world.alpha_case.reference not in page and str(world.alpha_case.id) not in page


def test_an_unknown_reference_and_another_tenants_get_the_same_answer(world: World) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    answers = []
    for reference in ("ZZZZ-ZZZZ", world.beta_case.reference):
        for confirmed in ("", "yes"):
            response = browser.post(url(world), {"outcome": "duplicate", "duplicate_of": reference,
                                                 "confirmed": confirmed}, form_url="/staff/account")
            assert response.status_code == 400
            answers.append(duplicate_error(browser.text()))
            assert 'data-testid="triage-warning"' not in browser.text()
    assert len(set(answers)) == 1 and "No case you can open has this reference" in answers[0]
    assert status(world) == ("received", None, None)


@pytest.mark.parametrize(("reference", "message"), [
    ("", "Enter the whole reference"), ("ABCD", "Enter the whole reference"),
    ('<script>alert(1)</script>', "Enter the whole reference"), ("A" * 41, "Field cannot be longer"),
    ("{self}", "cannot be a duplicate of itself"),
])
def test_malformed_and_self_references_are_a_clear_400(world: World, reference: str, message: str) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    typed = world.alpha_other_case.reference if reference == "{self}" else reference
    response = browser.post(url(world), {"outcome": "duplicate", "duplicate_of": typed, "confirmed": "yes"},
                            form_url="/staff/account")
    assert response.status_code == 400
    assert message in duplicate_error(browser.text())
    assert "<script>alert(1)</script>" not in browser.text()
    assert status(world) == ("received", None, None)


@pytest.mark.parametrize("data", [{}, {"outcome": "substantiated"}, {"outcome": "closed"}, {"outcome": "x" * 5000}])
def test_a_missing_or_forged_outcome_is_a_400(world: World, data: dict[str, str]) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    response = browser.post(url(world), {**data, "confirmed": "yes"}, form_url="/staff/account")
    assert response.status_code == 400 and 'id="triage-outcome"' in browser.text()
    assert status(world) == ("received", None, None)


def test_an_acknowledged_case_is_not_closed_at_triage(world: World) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case_page = f"/staff/cases/{world.alpha_other_case.id}"
    browser.post(f"{case_page}/status", {"status": "acknowledged"}, form_url=case_page)
    assert 'data-testid="triage"' not in browser.get(case_page).get_data(as_text=True)
    response = browser.post(url(world), {"outcome": "not-a-report", "confirmed": "yes"}, form_url=case_page)
    assert response.status_code == 400
    assert "Only a report that was not yet acknowledged" in browser.text()
    assert status(world)[:2] == ("acknowledged", None)


def test_reopening_a_case_closed_at_triage_offers_received(world: World) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case_page = f"/staff/cases/{world.alpha_other_case.id}"
    browser.post(url(world), {"outcome": "not-a-report", "confirmed": "yes"}, form_url=case_page)
    page = browser.get(case_page).get_data(as_text=True)
    assert re.search(r'<select id="status-status"[^>]*>\s*<option value="received">', page), page
    browser.post(f"{case_page}/status", {"status": "received"}, form_url=case_page)
    assert status(world) == ("received", None, None)


def test_other_roles_other_tenants_and_forged_requests_are_refused(world: World) -> None:
    assert_other_roles_refused(world, [("POST", url(world))], Role.HANDLER)
    beta = world.staff_browser(world.beta.staff[Role.HANDLER])
    assert beta.post(url(world), {"outcome": "not-a-report", "confirmed": "yes"},
                     form_url="/staff/account").status_code == 404
    alpha = world.staff_browser(world.alpha.staff[Role.HANDLER])
    # beta's case through alpha's handler: not found, like any unknown id
    assert alpha.post(url(world, world.beta_case.id), {"outcome": "not-a-report", "confirmed": "yes"},
                      form_url="/staff/account").status_code == 404
    assert alpha.post(url(world), {"outcome": "not-a-report", "confirmed": "yes"}, csrf=False).status_code == 400
    assert alpha.post(url(world), {"outcome": "not-a-report", "confirmed": "yes", "csrf_token": "forged"},
                      csrf=False).status_code == 400
    assert world.browser().post(url(world), {"outcome": "not-a-report", "confirmed": "yes"},
                                csrf=False).status_code in (302, 303, 400, 401, 403)
    assert alpha.get(url(world)).status_code == 405
    assert status(world) == ("received", None, None)
    assert status(world, world.beta_case.id) == ("received", None, None)
    assert audit_details(world.ctx, "case.closed_at_triage") == []


def test_nothing_sensitive_reaches_the_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    for data in ({"outcome": "duplicate", "duplicate_of": world.beta_case.reference},
                 {"outcome": "duplicate", "duplicate_of": world.alpha_case.reference, "confirmed": "yes"}):
        browser.post(url(world), data, form_url="/staff/account")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in {n.split(".")[0] for n in LOGGERS})
    for secret in (world.alpha_other_case.what, world.alpha_case.what, world.beta_case.reference):
        assert secret not in logged
