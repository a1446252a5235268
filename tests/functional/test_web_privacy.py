"""What a reporter writes, and who the reporter is, stays out of logs, URLs, the logbook and the
database in clear (DESIGN: "No IP, user agent or cookie is kept for reporters"; "Logbook:
never report content or personal data").

A unique marker goes into every field, message, file name and file body through HTTP; then
every log record (root at DEBUG, the logbook's JSON lines, Flask, Werkzeug, SQLAlchemy),
every redirect, every row of every table and every file in the data directory is searched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, request
from werkzeug.wrappers import Response

from appliance.actors import Role
from appliance.context import AppContext
from appliance.crypto.case_keys import CaseKey
from appliance.services import Services
from tests.functional.world import LOGGERS, PASSWORD, Markers, make_org
from tests.support import FrozenClock
from tests.web import Browser, file, receipt_key, sign_in

REPORTER_ADDR = "203.0.113.77"


@pytest.fixture
def traffic(app: Flask) -> Iterator[list[tuple[str, str | None, list[str]]]]:
    """(request path with query, Location, Set-Cookie values) of every response the app sends."""
    seen: list[tuple[str, str | None, list[str]]] = []

    @app.after_request
    def _record(response: Response) -> Response:
        seen.append((request.full_path, response.headers.get("Location"), response.headers.getlist("Set-Cookie")))
        return response

    yield seen


def database_rows(ctx: AppContext) -> dict[str, list[dict[str, object]]]:
    """Every row of every table, found by reflection (no model needed)."""
    metadata = sa.MetaData()
    metadata.reflect(ctx.engine)
    with ctx.engine.connect() as connection:
        try:
            return {table.name: [dict(row._mapping) for row in connection.execute(sa.select(table))]
                    for table in metadata.sorted_tables}
        finally:
            connection.rollback()  # SQLite: end the transaction before the app's next request


def database_values(ctx: AppContext) -> Iterator[tuple[str, str, object]]:
    for table, rows in database_rows(ctx).items():
        for row in rows:
            for column, value in row.items():
                yield table, column, value


def as_text(value: object) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("latin-1").lower()
    return str(value).lower()


def found_in(haystack: str, needles: dict[str, str]) -> list[str]:
    haystack = haystack.lower()
    return [name for name, needle in needles.items() if needle.lower() in haystack]


def test_reporter_content_and_identity_leave_no_trace(app, ctx: AppContext, services: Services,  # type: ignore[no-untyped-def]
                                                      clock: FrozenClock, caplog: pytest.LogCaptureFixture,
                                                      traffic: list[tuple[str, str | None, list[str]]]) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    org = make_org(services, clock, "privacy", (Role.HANDLER,))
    mark = Markers()
    user_agent = f"Mozilla/5.0 (X11; Linux x86_64) ua-{mark['agent']}"

    reporter = Browser(app)
    reporter.client.environ_base.update({"REMOTE_ADDR": REPORTER_ADDR, "HTTP_USER_AGENT": user_agent})
    assert reporter.get("/r/privacy/").status_code == 200
    case_key = receipt_key(reporter, reporter.post("/r/privacy/report", {
        "category": str(org.category_id), "what": mark["what"], "when": mark["when"], "where": mark["where"],
        "people": mark["people"], "contact": f"{mark['contact']}@example.com",
        "attachments": [file(f"{mark['report-file-name']}.pdf", f"%PDF {mark['report-file-body']}".encode())],
    }, content_type="multipart/form-data"))
    wrong_key = CaseKey.new().display
    assert reporter.post("/r/privacy/follow-up", {"case_key": wrong_key}).status_code == 400
    assert reporter.post("/r/privacy/follow-up", {"case_key": case_key.lower()}).status_code == 303
    assert reporter.post("/r/privacy/case/reply", {
        "body": mark["reply"],
        "attachments": [file(f"{mark['reply-file-name']}.txt", mark["reply-file-body"].encode(), "text/plain")],
    }, form_url="/r/privacy/case", content_type="multipart/form-data").status_code == 303

    staff = org.staff[Role.HANDLER]
    handler = Browser(app)
    assert sign_in(handler, staff.email, PASSWORD, staff.secret, clock).status_code == 303
    handler.get("/staff/queue")
    case_id = re.search(r'href="/staff/cases/([0-9a-f-]{36})"', handler.text())
    assert case_id
    case_url = f"/staff/cases/{case_id.group(1)}"
    page = handler.get(case_url).get_data(as_text=True)
    assert mark["what"] in page and mark["reply"] in page and mark["contact"] in page
    for link in re.findall(rf'href="({case_url}/attachments/[0-9a-f-]{{36}})"', page):
        assert handler.get(link).data
    assert handler.post(f"{case_url}/status", {"status": "acknowledged"}, form_url=case_url).status_code == 303
    assert handler.post(f"{case_url}/messages", {
        "body": mark["answer"], "is_feedback": "y",
        "attachments": [file(f"{mark['answer-file-name']}.pdf", f"%PDF {mark['answer-file-body']}".encode())],
    }, form_url=case_url, content_type="multipart/form-data").status_code == 303
    assert handler.post(f"{case_url}/notes", {"body": mark["note"]}, form_url=case_url).status_code == 303

    page = reporter.get("/r/privacy/case").get_data(as_text=True)
    assert mark["answer"] in page and mark["note"] not in page
    links = re.findall(r'href="(/r/privacy/case/attachments/[0-9a-f-]{36})"', page)
    assert len(links) == 3
    for link in links:
        assert reporter.get(link).data
    assert reporter.post("/r/privacy/case/sign-out", form_url="/r/privacy/case").status_code == 303

    secrets = {**mark.all, "case key": case_key, "case key, bare": case_key.replace("-", ""),
               "wrong key": wrong_key, "wrong key, bare": wrong_key.replace("-", "")}
    identity = {"address": REPORTER_ADDR, "user agent": user_agent, "user agent marker": mark["agent"]}
    needles = {**secrets, **identity}

    # Logs: every record, formatted and raw, and the logbook's JSON lines among them.
    assert any(r.name == "appliance.audit" and "case.created" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy") for r in caplog.records), "SQL logging was not captured"
    for record in caplog.records:
        assert not found_in(f"{record.getMessage()} {record.args!r} {record.exc_text or ''}", needles), record.name
    assert not found_in(caplog.text, needles)
    assert case_id.group(1) in caplog.text  # the search sees what the logs hold: ids, not content

    # URLs: what was requested and where the app sent the browsers.
    assert any(location for _, location, _ in traffic)
    for path, location, cookies in traffic:
        assert not found_in(f"{path} {location or ''}", needles), (path, location)
        # Cookies carry random tokens and the signed CSRF session, nothing of the reporter.
        for value in cookies:
            assert not found_in(value, needles), value
    for value in (c for _, _, cookies in traffic for c in cookies if c.startswith("appliance-form=")):
        content = app.session_interface.get_signing_serializer(app).loads(value.split(";")[0].split("=", 1)[1])
        assert set(content) <= {"csrf_token", "lang"}, content

    # The logbook table and every other table: no content, no key, no address, no user agent.
    rows = database_rows(ctx)
    assert len(rows["audit_events"]) >= 8 and len(rows["attachment_chunks"]) >= 3 and len(rows["case_messages"]) >= 3
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                assert not found_in(as_text(value), needles), (table, column)

    # Files next to the database (SQLCipher file, WAL, any spool): nothing in clear.
    for path in Path(ctx.settings.data_dir).rglob("*"):
        if path.is_file() and path.name != "master.key":
            data = path.read_bytes().decode("latin-1").lower()
            assert not found_in(data, needles), path.name


def test_a_refused_report_logs_nothing_of_it(app, ctx: AppContext, services: Services,  # type: ignore[no-untyped-def]
                                             clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    """Error paths (invalid form, CSRF failure, unknown tenant) do not log what was sent either."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    org = make_org(services, clock, "privacy", (Role.HANDLER,))
    mark = Markers()
    reporter = Browser(app)
    reporter.client.environ_base.update({"REMOTE_ADDR": REPORTER_ADDR, "HTTP_USER_AGENT": f"ua-{mark['agent']}"})
    fields = {"what": mark["what"], "where": mark["where"], "contact": f"not an address {mark['contact']}"}
    assert reporter.post("/r/privacy/report", {**fields, "category": str(org.category_id)},
                         content_type="multipart/form-data").status_code == 400
    assert reporter.post("/r/privacy/report", {**fields, "category": "not-a-category"},
                         content_type="multipart/form-data").status_code == 400
    assert reporter.post("/r/privacy/report", fields, csrf=False, content_type="multipart/form-data").status_code == 400
    assert reporter.post(f"/r/{mark['slug']}/report", fields, csrf=False).status_code in (400, 404)
    assert reporter.get(f"/r/privacy/case/attachments/{mark['path']}").status_code in (302, 404)
    needles = {**mark.all, "address": REPORTER_ADDR}
    # The paths typed above are the client's own request; only the logs are searched here.
    needles.pop("slug")
    needles.pop("path")
    assert caplog.records
    assert not found_in(caplog.text, needles)
    for table, column, value in database_values(ctx):
        assert not found_in(as_text(value), needles), (table, column)
