"""The auditor's room over HTTP: one tenant's logbook, searched, paged by signed cursors, exported
in the CLI's format, the chain verified on request; every other role and tenant kept out."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from appliance.actors import CLI, SYSTEM, Actor, Role
from appliance.audit.export import LogbookExport
from appliance.audit.models import AuditEvent
from appliance.audit.search import EPOCH
from appliance.cli.audit import write_export
from appliance.services import Services
from tests.functional.world import World, assert_other_roles_refused, calls, count, fill_values, is_redirect_to
from tests.web import Browser

ROOM = "/audit/t/alpha/"
SEQ = re.compile(r'data-seq="(\d+)"')
OLDER = re.compile(r'rel="next" href="([^"]+)"')


def auditor(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.AUDITOR])


def seqs_on(browser: Browser) -> list[int]:
    return [int(s) for s in SEQ.findall(browser.text())]


def tenant_of(world: World, seqs: list[int]) -> set[str]:
    with world.ctx.sessions() as session:
        tenants = session.execute(sa.select(AuditEvent.tenant_id).where(AuditEvent.seq.in_(seqs))).scalars().all()
    return {str(t) for t in tenants}


def cli_export(world: World) -> list[str]:
    with world.ctx.sessions() as session:
        exporter = LogbookExport(session)
        out = io.StringIO()
        write_export(out, exporter.plan(EPOCH), exporter, "jsonl", None)
    return out.getvalue().splitlines()


def test_the_auditor_reads_their_tenants_logbook_only(world: World) -> None:
    browser = auditor(world)
    assert is_redirect_to(browser.get("/audit/"), ROOM)
    assert browser.get(ROOM).status_code == 200
    seqs = seqs_on(browser)
    assert seqs and seqs == sorted(seqs, reverse=True)
    assert tenant_of(world, seqs) == {str(world.alpha.tenant_id)}
    page = browser.text()
    assert str(world.beta_case.id) not in page
    for secret in (world.alpha_case.what, world.alpha_case.note, world.alpha_case.attachment_name, "alpha person"):
        assert secret not in page
    assert browser.get("/audit/t/beta/").status_code == 404
    assert browser.get("/audit/t/beta/export").status_code == 404
    assert browser.post("/audit/t/beta/verify", form_url=ROOM).status_code == 404
    assert browser.get("/audit/t/nowhere/").status_code == 404


def test_filters_over_http(world: World) -> None:
    browser = auditor(world)
    case_id = str(world.alpha_case.id)
    browser.get(ROOM, query_string={"object": case_id})
    by_object = seqs_on(browser)
    assert by_object and browser.text().count(f"<code>{case_id}</code>") == len(by_object)
    browser.get(ROOM, query_string={"object": case_id, "action": "case.subject_added"})
    combined = seqs_on(browser)
    assert 0 < len(combined) < len(by_object)
    browser.get(ROOM, query_string={"since": "2099-01-01T00:00"})
    assert seqs_on(browser) == [] and "No events match." in browser.text()
    browser.get(ROOM, query_string={"until": "2000-01-01"})
    assert seqs_on(browser) == []
    browser.get(ROOM, query_string={"actor": str(world.alpha.staff[Role.HANDLER].user_id)})
    assert seqs_on(browser)


def test_malformed_oversized_and_hostile_input_is_refused_and_escaped(world: World) -> None:
    browser = auditor(world)
    for args in ({"since": "yesterday"}, {"until": "2026-99-01"}, {"action": "x" * 65}, {"object": "a\x00b"},
                 {"since": "2026-03-02", "until": "2026-03-01"}):
        assert browser.get(ROOM, query_string=args).status_code == 400, args
        assert 'role="alert"' in browser.text()
        assert browser.get("/audit/t/alpha/export", query_string=args).status_code == 400, args
    xss = '"><script>alert(1)</script>'
    assert browser.get(ROOM, query_string={"action": xss}).status_code == 200
    assert "<script>alert(1)" not in browser.text() and "&lt;script&gt;" in browser.text()


def test_keyset_pages_follow_and_a_tampered_cursor_is_refused(world: World, services) -> None:  # type: ignore[no-untyped-def]
    handler = world.alpha.staff[Role.HANDLER]
    for _ in range(60):  # enough events for two pages
        services.logbook.record("test.filler", Actor("user", handler.user_id),
                                tenant_id=world.alpha.tenant_id, object_type="case", object_id=str(world.alpha_case.id))
    services.session.commit()
    browser = auditor(world)
    browser.get(ROOM, query_string={"action": "test.filler"})
    pages = [seqs_on(browser)]
    while (older := OLDER.search(browser.text())):
        link = older.group(1).replace("&amp;", "&")
        assert browser.get(link).status_code == 200
        pages.append(seqs_on(browser))
    assert [len(p) for p in pages] == [50, 10]
    flat = [s for p in pages for s in p]
    assert flat == sorted(set(flat), reverse=True)

    browser.get(ROOM, query_string={"action": "test.filler"})
    cursor = parse_qs(urlsplit(OLDER.search(browser.text()).group(1).replace("&amp;", "&")).query)["cursor"][0]  # type: ignore[union-attr]
    seq, _, mac = cursor.partition(".")
    for bad in (f"{int(seq) + 1}.{mac}", f"{seq}.{mac[::-1]}", seq, "1 OR 1=1", "' ; DROP TABLE audit_events; --"):
        assert browser.get(ROOM, query_string={"action": "test.filler", "cursor": bad}).status_code == 400, bad
    # A cursor is bound to its search: not valid without the filter, nor in another tenant's room.
    assert browser.get(ROOM, query_string={"cursor": cursor}).status_code == 400
    assert browser.get(ROOM, query_string={"action": "test.filler", "cursor": cursor}).status_code == 200


def test_the_export_is_the_cli_export_cut_to_the_tenant_and_is_recorded(world: World) -> None:
    browser = auditor(world)
    before = count(world.ctx, "audit_events", "action = 'audit.exported'")
    response = browser.get("/audit/t/alpha/export")
    assert response.status_code == 200 and response.mimetype == "application/jsonl"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "appliance-logbook-export/1" and header["events"] == len(lines) - 1
    cli = cli_export(world)
    expected = [line for line in cli[1:] if json.loads(line)["tenant"] == str(world.alpha.tenant_id)]
    assert lines[1:] == expected[:len(lines) - 1] and len(lines) > 1
    assert count(world.ctx, "audit_events", "action = 'audit.exported'") == before + 1
    body = response.get_data(as_text=True)
    for secret in (world.alpha_case.what, world.alpha_case.note, str(world.beta.tenant_id)):
        assert secret not in body.replace(f'"tenant":"{world.alpha.tenant_id}"', "")

    filtered = browser.get("/audit/t/alpha/export", query_string={"object": str(world.alpha_case.id)})
    rows = filtered.get_data(as_text=True).splitlines()
    assert all(json.loads(r)["object_id"] == str(world.alpha_case.id) for r in rows[1:]) and len(rows) > 1
    assert json.loads(rows[0])["filter"]["object_id"] == str(world.alpha_case.id)


def test_verify_needs_csrf_and_shows_the_outcome(world: World) -> None:
    browser = auditor(world)
    browser.get(ROOM)
    assert "Not verified yet." in browser.text()
    assert browser.post("/audit/t/alpha/verify", csrf=False).status_code == 400
    assert browser.post("/audit/t/alpha/verify", {"csrf_token": "forged"}, csrf=False).status_code == 400
    assert count(world.ctx, "audit_events", "action = 'audit.verified'") == 0
    assert is_redirect_to(browser.post("/audit/t/alpha/verify", form_url=ROOM), ROOM)
    browser.get(ROOM)
    assert "intact" in browser.text() and "Checked by an auditor in this room." in browser.text()
    beta_admin = world.staff_browser(world.beta.staff[Role.ADMIN])
    assert beta_admin.get(ROOM).status_code == 403


def test_the_room_shows_the_newest_check_whoever_made_it_but_no_other_tenants(world: World) -> None:
    browser = auditor(world)
    with world.ctx.unit_of_work() as session:  # the scheduler's daily job
        Services(world.ctx, session).chain_status.verify(SYSTEM)
    browser.get(ROOM)
    assert "intact" in browser.text() and "Checked by the scheduler (job logbook-verify)." in browser.text()
    with world.ctx.unit_of_work() as session:  # IT on the command line
        Services(world.ctx, session).chain_status.verify(CLI)
    browser.get(ROOM)
    assert "Checked on the command line (appliance audit verify)." in browser.text()
    # Another tenant's auditor checking from their room is theirs: alpha's room keeps the CLI's.
    with world.ctx.unit_of_work() as session:
        Services(world.ctx, session).chain_status.verify(Actor("user", world.beta.staff[Role.ADMIN].user_id),
                                                          world.beta.tenant_id)
    browser.get(ROOM)
    assert "Checked on the command line (appliance audit verify)." in browser.text()
    assert "Checked by an auditor in this room." not in browser.text()


def test_other_roles_are_refused_and_the_auditor_reaches_no_case(world: World) -> None:
    urls = ("/audit/", ROOM, "/audit/t/alpha/export")
    routes = [(c.method, c.url) for c in calls(world.app, fill_values(world)) if c.endpoint.startswith("audit.")]
    assert {url for _, url in routes} >= {*urls, "/audit/t/alpha/verify"}
    assert_other_roles_refused(world, routes, Role.AUDITOR)
    browser = auditor(world)
    for url in ("/staff/queue", f"/staff/cases/{world.alpha_case.id}", "/admin/", "/admin/t/alpha/users",
                f"/staff/cases/{world.alpha_case.id}/attachments/{world.alpha_case.attachment_id}"):
        assert browser.get(url).status_code == 403, url
    anonymous = world.browser()
    for url in urls:
        assert is_redirect_to(anonymous.get(url), "/staff/login"), url
