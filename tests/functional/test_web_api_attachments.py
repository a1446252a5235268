"""Files on reports recorded through the API: multipart reports, files added within ten minutes by
the token that filed the report, the portal's limits and encryption.

Attacks (both databases): another token's or another tenant's report, a late request, oversized
and malformed bodies, a token trying to read back what it sent, and markers in file names and
contents searched for in the logs, the logbook and every stored value (and the raw SQLite file).
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.test import TestResponse

import appliance.models
from appliance.actors import Role
from appliance.cases.api_intake import MAX_FILES
from appliance.db import Base
from tests.functional.api_support import assert_problem, bearer, client, issue, report_body
from tests.functional.world import (
    Markers,
    World,
    app_with,
    audit_details,
    audit_trail,
    content_counts,
    count,
    scalar,
)

assert appliance.models  # every table is in Base.metadata for the database scan
PDF = b"%PDF-1.4 the invoices, scanned\n" + bytes(range(256)) * 40


def multipart(report: dict[str, Any] | str | None, *files: tuple[bytes, str, str], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(extra)
    if report is not None:
        data["report"] = report if isinstance(report, str) else json.dumps(report)
    if files:
        data["files"] = [(io.BytesIO(content), name, kind) for content, name, kind in files]
    return data


def post_report(world: World, token: str, report: dict[str, Any] | str | None, *files: tuple[bytes, str, str],
                app: Flask | None = None, **extra: Any) -> TestResponse:
    return client(world, app).post("/api/v1/reports", data=multipart(report, *files, **extra),
                                   content_type="multipart/form-data", headers=bearer(token))


def add_files(world: World, token: str, reference: str, *files: tuple[bytes, str, str],
              app: Flask | None = None) -> TestResponse:
    return client(world, app).post(f"/api/v1/reports/{reference}/attachments", data=multipart(None, *files),
                                   content_type="multipart/form-data", headers=bearer(token))


def case_id_of(world: World, reference: str) -> uuid.UUID:
    return uuid.UUID(str(scalar(world.ctx, "SELECT id FROM cases WHERE reference = :r", r=reference)))


def stored(world: World) -> dict[str, int]:
    return {**content_counts(world.ctx), "api_intake_records": count(world.ctx, "api_intake_records")}


def handler_download(world: World, case_id: uuid.UUID, name: str, role: Role = Role.HANDLER) -> bytes:
    handler = world.staff_browser(world.alpha.staff[role])
    page = handler.get(f"/staff/cases/{case_id}")
    assert page.status_code == 200
    text = handler.text()
    assert name in text
    link = text.split(name)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    download = handler.get(link)
    assert download.status_code == 200
    return download.data


# --- files with the report ----------------------------------------------------------------------------
def test_a_report_with_files_reaches_its_readers_and_never_the_token(world: World) -> None:
    token, token_id = issue(world)
    response = post_report(world, token, report_body(world, what="Invoices were forged at the depot."),
                           (PDF, "invoices.pdf", "application/pdf"), (b"MZ\x90\x00 not a program", "tool.exe",
                                                                        "application/x-msdownload"))
    assert response.status_code == 201, response.get_data(as_text=True)
    receipt = response.get_json()
    assert set(receipt) == {"reference", "case_key", "follow_up_url"}
    case_id = case_id_of(world, receipt["reference"])
    assert count(world.ctx, "attachments", "case_id = :c", c=case_id) == 2
    assert str(uuid.UUID(str(scalar(world.ctx, "SELECT token_id FROM api_intake_records WHERE case_id = :c",
                                      c=case_id)))) == token_id

    # The tenant's handler reads the report and its files; a type the portal does not know downloads
    # as octet-stream, never as what the client claimed.
    assert handler_download(world, case_id, "invoices.pdf") == PDF
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    handler.get(f"/staff/cases/{case_id}")
    assert "Invoices were forged at the depot." in handler.text()
    assert "tool.exe" in handler.text() and "application/x-msdownload" not in handler.text()
    # The reporter, with the case key, sees them too; another tenant's handler reaches nothing.
    reporter = world.browser("192.0.2.45")
    assert reporter.post("/r/alpha/follow-up", {"case_key": receipt["case_key"]}).status_code == 303
    assert "invoices.pdf" in reporter.get("/r/alpha/case").get_data(as_text=True)
    attachment_id = scalar(world.ctx, "SELECT id FROM attachments WHERE case_id = :c ORDER BY size_bytes DESC",
                           c=case_id)
    outsider = world.staff_browser(world.beta.staff[Role.HANDLER])
    assert outsider.get(f"/staff/cases/{case_id}/attachments/{uuid.UUID(str(attachment_id))}").status_code == 404

    # The token has no way back to the files.
    api = client(world)
    for url in (f"/api/v1/reports/{receipt['reference']}/attachments",
                f"/api/v1/reports/{receipt['reference']}/attachments/{uuid.UUID(str(attachment_id))}"):
        refused = api.get(url, headers=bearer(token))
        assert refused.status_code in (404, 405) and refused.mimetype == "application/problem+json"
        assert PDF[:20] not in refused.data
    assert [e for e in audit_trail(world.ctx, case_id) if e[0] == "case.created"] == [
        ("case.created", "api-token", token_id)]
    assert [d for d in audit_details(world.ctx, "case.created") if d and "channel=phone" in d] == [
        "attachments=2 recipients=2 channel=phone"]


def test_the_token_that_filed_a_report_adds_files_for_ten_minutes(world: World) -> None:
    token, token_id = issue(world)
    filed = client(world).post("/api/v1/reports", json=report_body(world), headers=bearer(token))
    assert filed.status_code == 201
    reference = filed.get_json()["reference"]
    case_id = case_id_of(world, reference)

    world.clock.advance(minutes=9)
    added = add_files(world, token, reference, (b"minutes of the call", "call.txt", "text/plain"),
                      (PDF, "letter.pdf", "application/pdf"))
    assert added.status_code == 201, added.get_data(as_text=True)
    body = added.get_json()
    assert body["reference"] == reference and body["count"] == 2 and len(body["attachments"]) == 2
    ids = {str(uuid.UUID(str(v))) for v in
           sa_column(world, "SELECT id FROM attachments WHERE case_id = :c", c=case_id)}
    assert set(body["attachments"]) == ids
    assert f"token={token_id}" in audit_details(world.ctx, "api.attachments_added")
    assert audit_details(world.ctx, "case.attachments_added") == ["attachments=2"]

    world.clock.advance(minutes=1)  # exactly ten minutes after filing: still in time
    assert add_files(world, token, reference, (b"one more", "more.txt", "text/plain")).status_code == 201
    world.clock.advance(seconds=1)
    late = assert_problem(add_files(world, token, reference, (b"too late", "late.txt", "text/plain")),
                          409, "attachment-window-closed")
    assert "10 minutes" in late["detail"]
    assert count(world.ctx, "attachments", "case_id = :c", c=case_id) == 3
    # The case's readers open what was added; the handler's page lists it with the report.
    assert handler_download(world, case_id, "call.txt") == b"minutes of the call"
    assert handler_download(world, case_id, "letter.pdf") == PDF


def test_another_tokens_or_tenants_report_is_not_found(world: World) -> None:
    token, _ = issue(world)
    same_tenant, _ = issue(world)
    other_tenant, _ = issue(world, "beta")
    reference = client(world).post("/api/v1/reports", json=report_body(world), headers=bearer(token)).get_json()[
        "reference"]
    before = stored(world)
    file = (b"planted", "planted.txt", "text/plain")
    for caller, target in ((same_tenant, reference), (other_tenant, reference), (token, world.alpha_case.reference),
                           (token, world.beta_case.reference), (other_tenant, world.beta_case.reference),
                           (token, "NOPE-NOPE"), (token, "' OR 1=1 --"), (token, "%00"), (token, "x" * 500)):
        assert_problem(add_files(world, caller, target, file), 404, "not-found")
    # A token without the scope learns nothing either: 403 before anything is looked up.
    stats, _ = issue(world, scopes=("stats:read",))
    assert_problem(add_files(world, stats, reference, file), 403, "forbidden")
    assert_problem(add_files(world, "apl_wrong", reference, file), 401, "unauthorized")
    assert stored(world) == before


# --- limits and malformed bodies ----------------------------------------------------------------------
@pytest.fixture
def small_uploads(world: World) -> Iterator[Flask]:
    yield from app_with(world.ctx, world.clock, max_attachment_bytes=64 * 1024, max_report_bytes=128 * 1024,
                        api_max_body_bytes=4096)


def test_oversized_uploads_are_413_and_store_nothing(world: World, small_uploads: Flask) -> None:
    token, _ = issue(world)
    before = stored(world)
    big = b"x" * (64 * 1024 + 1)
    part = b"y" * (60 * 1024)
    # One file over the per-file limit, three under it but over the report's: the case goes too.
    assert_problem(post_report(world, token, report_body(world), (big, "big.bin", "application/pdf"),
                               app=small_uploads), 413, "too-large")
    assert_problem(post_report(world, token, report_body(world), *[(part, f"p{i}.pdf", "application/pdf")
                                                                    for i in range(3)], app=small_uploads),
                   413, "too-large")
    # A body over the upload limit is refused before it is read (the multipart limit is the upload
    # limit, far above the JSON body limit of 4096 bytes, which a small report with a file passes).
    declared = client(world, small_uploads).post(
        "/api/v1/reports", input_stream=io.BytesIO(b"--b\r\n"), content_type="multipart/form-data; boundary=b",
        headers=bearer(token), environ_overrides={"CONTENT_LENGTH": str(128 * 1024 + 1024 * 1024 + 1)})
    assert_problem(declared, 413, "too-large")
    within = client(world, small_uploads).post(
        "/api/v1/reports", input_stream=io.BytesIO(b"--b\r\n"), content_type="multipart/form-data; boundary=b",
        headers=bearer(token), environ_overrides={"CONTENT_LENGTH": str(128 * 1024)})
    assert within.status_code == 400  # read, as it is within the limit; it just is not a whole body
    assert stored(world) == before

    ok = post_report(world, token, report_body(world), (part, "fine.pdf", "application/pdf"), app=small_uploads)
    assert ok.status_code == 201
    reference = ok.get_json()["reference"]
    after = stored(world)
    # Files added later count against the same report: 60 KiB used, 2 x 60 KiB more is over 128 KiB.
    assert_problem(add_files(world, token, reference, (part, "a.pdf", "application/pdf"),
                             (part, "b.pdf", "application/pdf"), app=small_uploads), 413, "too-large")
    assert_problem(add_files(world, token, reference, (big, "c.pdf", "application/pdf"), app=small_uploads),
                   413, "too-large")
    assert stored(world) == after


def test_malformed_multipart_bodies_and_json_parts_are_problems(world: World) -> None:
    token, _ = issue(world)
    api = client(world)
    before = stored(world)
    file = (b"content", "a.txt", "text/plain")

    def raw(data: bytes, content_type: str) -> TestResponse:
        return api.post("/api/v1/reports", data=data, content_type=content_type, headers=bearer(token))

    assert_problem(raw(b"--x\r\nnothing", "multipart/form-data"), 400, "malformed-request")  # no boundary
    assert_problem(raw(b"--b\r\nContent-Disposition: form-data; name=\"report\"\r\n\r\n{}", "multipart/form-data; "
                       "boundary=b"), 400, "malformed-request")  # ends mid-part
    assert_problem(post_report(world, token, "{", file), 400, "malformed-request")
    assert_problem(post_report(world, token, "NaN", file), 400, "malformed-request")
    invalid = assert_problem(post_report(world, token, report_body(world, channel="pigeon", extra=1), file),
                             422, "invalid-input")
    assert {e["field"] for e in invalid["errors"]} == {"report.channel", "report.extra"}
    assert {e["field"] for e in assert_problem(post_report(world, token, None, file), 422,
                                               "invalid-input")["errors"]} == {"report"}
    assert {e["field"] for e in assert_problem(post_report(world, token, report_body(world), file, evil="1"), 422,
                                               "invalid-input")["errors"]} == {"evil"}
    many = [(b"f", f"{i}.txt", "text/plain") for i in range(MAX_FILES + 1)]
    assert {e["field"] for e in assert_problem(post_report(world, token, report_body(world), *many), 422,
                                               "invalid-input")["errors"]} == {"files"}
    as_field = api.post("/api/v1/reports", data={"report": json.dumps(report_body(world)), "files": "not a file"},
                        content_type="multipart/form-data", headers=bearer(token))
    assert assert_problem(as_field, 422, "invalid-input")["errors"][0]["field"] == "files"
    two = api.post("/api/v1/reports", data={"report": [json.dumps(report_body(world))] * 2},
                   content_type="multipart/form-data", headers=bearer(token))
    assert_problem(two, 422, "invalid-input")
    assert_problem(raw(b"report=x", "application/x-www-form-urlencoded"), 415, "unsupported-media-type")

    reference = api.post("/api/v1/reports", json=report_body(world), headers=bearer(token)).get_json()["reference"]
    after = stored(world)
    url = f"/api/v1/reports/{reference}/attachments"
    assert_problem(api.post(url, data={}, content_type="multipart/form-data", headers=bearer(token)),
                   422, "invalid-input")
    assert_problem(api.post(url, json={"files": []}, headers=bearer(token)), 415, "unsupported-media-type")
    assert_problem(add_files(world, token, reference, *many), 422, "invalid-input")
    assert stored(world) == after == {**before, "cases": before["cases"] + 1,
                                      "api_intake_records": before["api_intake_records"] + 1}

    # The report part may also come as a file part holding JSON (curl -F report=@report.json).
    as_file = api.post("/api/v1/reports", data={"report": (io.BytesIO(json.dumps(report_body(world)).encode()),
                                                           "report.json", "application/json")},
                       content_type="multipart/form-data", headers=bearer(token))
    assert as_file.status_code == 201, as_file.get_data(as_text=True)


def test_xss_in_file_names_is_inert_on_the_handlers_page(world: World) -> None:
    token, _ = issue(world)
    name = '<img src=x onerror=alert(1)>".pdf'
    response = post_report(world, token, report_body(world), (b"x", name, "text/html"))
    assert response.status_code == 201
    case_id = case_id_of(world, response.get_json()["reference"])
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    handler.get(f"/staff/cases/{case_id}")
    assert "<img src=x" not in handler.text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in handler.text()


# --- what is kept -------------------------------------------------------------------------------------
def test_markers_in_file_names_and_contents_appear_in_no_log_logbook_or_stored_value(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    token, _ = issue(world)
    markers = Markers()
    response = post_report(world, token, report_body(world, what=markers["what"]),
                           (markers["content"].encode() * 3, f"{markers['filename']}.pdf", "application/pdf"))
    assert response.status_code == 201
    reference = response.get_json()["reference"]
    added = add_files(world, token, reference, (markers["later"].encode(), f"{markers['latername']}.txt",
                                                "text/plain"))
    assert added.status_code == 201
    refused = post_report(world, token, "{" + markers["broken"], (b"x", f"{markers['refusedname']}.txt",
                                                                  "text/plain"))
    assert refused.status_code == 400 and markers["broken"] not in refused.get_data(as_text=True)
    needles = [*markers.all.values(), token, token.split("_", 2)[2]]

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert [n for n in needles if n in logged] == []
    with world.ctx.engine.connect() as connection:
        values = "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in connection.execute(sa.select(table)))
    assert [n for n in needles if n in values] == []
    details = "\n".join(str(d) for action in ("case.created", "case.attachments_added", "api.attachments_added")
                        for d in audit_details(world.ctx, action))
    assert [n for n in needles if n in details] == []
    if world.ctx.settings.backend == "sqlite":
        raw = Path(world.ctx.settings.database_url.split("///", 1)[1]).read_bytes()
        assert [n for n in needles if n.encode() in raw] == []


def sa_column(world: World, sql: str, **params: object) -> list[object]:
    with world.ctx.sessions() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        bound = {k: (v.hex if sqlite and isinstance(v, uuid.UUID) else v) for k, v in params.items()}
        try:
            return list(session.execute(sa.text(sql), bound).scalars())
        finally:
            session.rollback()
