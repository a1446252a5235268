"""Filing a report over HTTP (issue 18): post/redirect/get to a receipt that shows the case key
once, a reload or a replayed post that files nothing, a double click that still reaches the
key, the files of a refused form announced, and the attacks: tampered, foreign and expired
form references, another tenant's receipt cookie, the key kept out of URLs, logs and the
logbook (both databases)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import threading
from typing import Any

import pytest
from werkzeug.test import TestResponse

from appliance.cases.receipts import FORM_LIFETIME, SHOW_WITHIN
from tests.functional.test_web_channels import add_question, default_channel
from tests.functional.world import World, count
from tests.web import CASE_KEY, Browser, form_ref, receipt_key, series

RECEIPT = "/r/alpha/receipt"


def report_fields(world: World, what: str = "A receipt test", **more: Any) -> dict[str, Any]:
    return {"category": str(world.alpha.category_id), "what": what, **more}


def cases(world: World) -> int:
    return count(world.ctx, "cases")


def send(browser: Browser, payload: dict[str, Any], slug: str = "alpha") -> TestResponse:
    """One post of an already filled-in form (csrf_token and form_ref included): a replay sends it again."""
    browser.last = browser.client.post(f"/r/{slug}/report", data=dict(payload), content_type="multipart/form-data")
    return browser.last


def filled_form(browser: Browser, world: World, what: str = "A receipt test", slug: str = "alpha",
                **more: Any) -> dict[str, Any]:
    return {**browser.form_fields(f"/r/{slug}/report"), **report_fields(world, what, **more)}


def test_a_stored_report_redirects_to_a_receipt_that_shows_its_key_once(world: World,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    before = cases(world)
    reporter = world.browser("192.0.2.60")
    stored = reporter.post("/r/alpha/report", report_fields(world), content_type="multipart/form-data")
    assert stored.status_code == 303 and stored.headers["Location"] == RECEIPT
    assert not CASE_KEY.search(stored.get_data(as_text=True))
    cookie = stored.headers["Set-Cookie"]
    assert cookie.startswith("appliance-receipt=")  # __Secure-receipt where cookies are Secure
    for part in ("HttpOnly", "SameSite=Strict", f"Path={RECEIPT}", f"Max-Age={int(SHOW_WITHIN.total_seconds())}"):
        assert part in cookie, cookie
    key = receipt_key(reporter, stored)
    page = reporter.text()
    assert 'data-testid="follow-up-url">http://localhost/r/alpha/follow-up<' in page
    assert 'data-testid="keep-a-copy"' in page and "Print" in page
    assert 'name="lang"' not in page  # switching the language would load it again: no switcher here
    assert "appliance-receipt=;" in reporter.last.headers["Set-Cookie"]  # type: ignore[union-attr]
    assert cases(world) == before + 1

    for _ in range(2):  # reload, and Back (both GET the receipt again: every page is no-store)
        again = reporter.get(RECEIPT)
        assert again.status_code == 200 and 'data-testid="receipt-gone"' in reporter.text()
        assert key not in reporter.text() and not CASE_KEY.search(reporter.text())
    assert cases(world) == before + 1
    # The key is in no log line, logbook entry or leftover row.
    assert key not in caplog.text and key.replace("-", "") not in caplog.text
    assert count(world.ctx, "audit_events", "detail LIKE :k", k=f"%{key[:4]}-{key[5:9]}%") == 0
    assert count(world.ctx, "web_sessions", "kind = 'receipt' AND secret_sealed IS NOT NULL") == 0
    # and the receipt opens the case it names
    opened = reporter.post("/r/alpha/follow-up", {"case_key": key})
    assert opened.status_code == 303


def test_the_same_post_sent_again_files_nothing(world: World) -> None:
    before = cases(world)
    reporter = world.browser("192.0.2.61")
    payload = filled_form(reporter, world, "Sent twice")
    first = send(reporter, payload)
    key = receipt_key(reporter, first)
    # Back and send again, or the browser's "resend": the same form, the same reference.
    replay = send(reporter, payload)
    assert replay.status_code == 409, reporter.text()
    page = reporter.text()
    assert 'data-testid="already-received"' in page and key not in page and not CASE_KEY.search(page)
    assert "Set-Cookie" not in replay.headers or "appliance-receipt" not in replay.headers["Set-Cookie"]
    assert cases(world) == before + 1


def test_a_double_click_files_one_report_and_still_reaches_the_key(world: World) -> None:
    """The browser shows only the answer to the second click: it leads to the same receipt."""
    before = cases(world)
    reporter = world.browser("192.0.2.62")
    payload = filled_form(reporter, world, "Clicked twice")
    first, second = send(reporter, payload), send(reporter, payload)
    assert first.status_code == second.status_code == 303
    assert first.headers["Set-Cookie"].split(";")[0] == second.headers["Set-Cookie"].split(";")[0]
    key = receipt_key(reporter, second)
    assert reporter.get(RECEIPT).status_code == 200 and key not in reporter.text()
    assert send(reporter, payload).status_code == 409
    assert cases(world) == before + 1


def test_two_posts_of_one_form_at_the_same_moment_file_one_report(world: World) -> None:
    """Two requests in flight together (two connections): the second waits for the first's
    receipt row, then goes to the same receipt; one case on either database."""
    before = cases(world)
    reporter = world.browser("192.0.2.63")
    payload = filled_form(reporter, world, "Raced")
    cookie = reporter.client.get_cookie("appliance-form")
    assert cookie is not None
    clients = [world.app.test_client() for _ in range(2)]
    for client in clients:
        client.environ_base["REMOTE_ADDR"] = "192.0.2.63"
        client.set_cookie("appliance-form", cookie.value)
    start = threading.Barrier(2)
    answers: list[TestResponse] = []

    def post(client: Any) -> None:
        start.wait()
        answers.append(client.post("/r/alpha/report", data=dict(payload), content_type="multipart/form-data"))

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [303, 303], [a.get_data(as_text=True)[:300] for a in answers]
    assert cases(world) == before + 1


def test_a_receipt_not_opened_in_time_keeps_no_key(world: World) -> None:
    before = cases(world)
    reporter = world.browser("192.0.2.64")
    payload = filled_form(reporter, world, "Left before the receipt")
    assert send(reporter, payload).status_code == 303
    world.clock.advance(seconds=int(SHOW_WITHIN.total_seconds()) + 1)
    assert reporter.get(RECEIPT).status_code == 200 and 'data-testid="receipt-gone"' in reporter.text()
    assert count(world.ctx, "web_sessions", "kind = 'receipt' AND secret_sealed IS NOT NULL") == 0
    assert send(reporter, payload).status_code == 409  # remembered as long as the form is accepted
    world.clock.advance(seconds=int(FORM_LIFETIME.total_seconds()))
    assert send(reporter, payload).status_code == 400 and 'data-testid="form-expired"' in reporter.text()
    assert count(world.ctx, "web_sessions", "kind = 'receipt'") == 0  # and then forgotten
    assert cases(world) == before + 1


@pytest.mark.parametrize("reference", ["", "not-a-reference", "1.2.3", "9" * 200, '"><script>alert(1)</script>'])
def test_a_missing_or_tampered_form_reference_stores_nothing(world: World, reference: str) -> None:
    before = cases(world)
    reporter = world.browser("192.0.2.65")
    payload = {**filled_form(reporter, world, "Tampered"), "form_ref": reference}
    response = send(reporter, payload)
    assert response.status_code == 400
    page = reporter.text()
    assert 'data-testid="form-expired"' in page and "<script>alert(1)" not in page
    fresh = form_ref(page)
    assert fresh and fresh != reference
    assert "Tampered" in page  # what was written stays in the form
    assert cases(world) == before
    # The form as it came back is sent as it is now.
    assert send(reporter, {**payload, "form_ref": fresh}).status_code == 303
    assert cases(world) == before + 1


def test_a_reference_of_another_tenants_form_is_refused(world: World) -> None:
    before = cases(world)
    reporter = world.browser("192.0.2.66")
    beta_reference = reporter.form_fields("/r/beta/report")["form_ref"]
    payload = {**filled_form(reporter, world, "Wrong portal"), "form_ref": beta_reference}
    assert send(reporter, payload).status_code == 400 and 'data-testid="form-expired"' in reporter.text()
    assert cases(world) == before


def test_a_receipt_cookie_opens_nothing_in_another_portal(world: World) -> None:
    reporter = world.browser("192.0.2.67")
    stored = send(reporter, filled_form(reporter, world, "Cookie elsewhere"))
    token = re.match(r"appliance-receipt=([^;]+)", stored.headers["Set-Cookie"])
    assert token is not None
    thief = world.browser("198.51.100.30")
    thief.client.set_cookie("appliance-receipt", token.group(1), path="/r/beta/receipt")
    assert thief.get("/r/beta/receipt").status_code == 200 and not CASE_KEY.search(thief.text())
    thief.client.set_cookie("appliance-receipt", "x" * 3000, path="/r/alpha/receipt")
    assert thief.get(RECEIPT).status_code == 200 and not CASE_KEY.search(thief.text())
    # The reporter's own receipt is still there: the attempts took nothing from it.
    assert CASE_KEY.search(reporter.get(stored.headers["Location"]).get_data(as_text=True))


def test_a_refused_form_says_how_many_files_were_not_kept(world: World) -> None:
    channel = default_channel(world)
    assert add_question(world, channel, label="Evidence", kind="file") == 303
    reporter = world.browser("192.0.2.68")
    files = {"attachments": [(io.BytesIO(b"%PDF-1.4 a"), "a.pdf", "application/pdf"),
                             (io.BytesIO(b"%PDF-1.4 b"), "b.pdf", "application/pdf")],
             "q_q1": (io.BytesIO(b"%PDF-1.4 c"), "c.pdf", "application/pdf")}
    refused = reporter.post("/r/alpha/report", {**report_fields(world), "category": "", **files},
                            content_type="multipart/form-data")
    assert refused.status_code == 400
    page = reporter.text()
    assert 'data-testid="files-dropped"' in page and "The 3 file(s) you chose were not stored" in page
    assert re.search(r'data-testid="attachments-note">You chose 2 file\(s\) here', page)
    assert re.search(r'data-testid="q_q1-note">You chose 1 file\(s\) here', page)
    assert 'aria-describedby="attachments-hint attachments-note"' in page
    assert 'aria-describedby="q_q1-note"' in page
    # A refused form without files says nothing about files.
    reporter.post("/r/alpha/report", {**report_fields(world), "category": ""}, content_type="multipart/form-data")
    assert "files-dropped" not in reporter.text() and "-note" not in reporter.text()


def test_the_receipt_routes_are_public_reporter_pages(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.policy import policy_of

    assert policy_of(app.view_functions["reporter.receipt"]) == "reporter"
    assert policy_of(app.view_functions["reporter.report"]) == "reporter"


def test_the_receipt_is_not_kept_by_the_browser(world: World) -> None:
    reporter = world.browser("192.0.2.69")
    stored = send(reporter, filled_form(reporter, world))
    receipt = reporter.get(stored.headers["Location"])
    assert receipt.headers["Cache-Control"] == "no-store"
    assert dt.timedelta(minutes=1) < SHOW_WITHIN <= dt.timedelta(minutes=15)


def test_a_head_request_does_not_take_the_key(world: World) -> None:
    reporter = world.browser("192.0.2.70")
    stored = send(reporter, filled_form(reporter, world))
    assert reporter.client.head(RECEIPT).status_code == 200
    assert receipt_key(reporter, stored)


def test_only_a_stored_report_counts_as_a_submission(world: World) -> None:
    def submissions() -> float:
        return series(world.app.test_client().get("/metrics").get_data(as_text=True)).get(
            "appliance_report_submissions_total", 0.0)

    before = submissions()
    reporter = world.browser("192.0.2.71")
    payload = filled_form(reporter, world, "Counted once")
    assert [send(reporter, payload).status_code for _ in range(2)] == [303, 303]  # the second: to the receipt
    receipt_key(reporter, reporter.last)  # type: ignore[arg-type]
    assert send(reporter, payload).status_code == 409
    assert submissions() == before + 1


def test_a_refused_message_says_its_files_were_not_kept(world: World) -> None:
    """The reporter's follow-up message: nothing of a refused post is kept, and the page says so
    next to the file field (and nothing about files when none were chosen)."""
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    files = {"attachments": [(io.BytesIO(b"%PDF-1.4 a"), "a.pdf", "application/pdf"),
                             (io.BytesIO(b"%PDF-1.4 b"), "b.pdf", "application/pdf")]}
    refused = reporter.post("/r/alpha/case/reply", {"body": "x" * 20_001, **files}, form_url="/r/alpha/case",
                            content_type="multipart/form-data")
    assert refused.status_code == 400
    page = reporter.text()
    assert re.search(r'data-testid="attachments-note">You chose 2 file\(s\), but they were not kept', page)
    assert "x" * 20_001 in page  # the text stays in the form
    reporter.post("/r/alpha/case/reply", {"body": "x" * 20_001}, form_url="/r/alpha/case",
                  content_type="multipart/form-data")
    assert "attachments-note" not in reporter.text()
