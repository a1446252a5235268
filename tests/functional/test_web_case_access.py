"""Case access over HTTP (issue 4): a case opens only with a key sealed to the reader.

A handler of the same tenant without a copy, a forged route or a tampered session reads
nothing and gets the locked page (403) that names whom to ask; revoke and grant change who
reads; an administrator's password reset leaves the user locked out of old cases and says
so; the report recipients an administrator chooses are exactly who new reports reach; a
reporter whose copy is still pending writes and reads again later.
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest
import sqlalchemy as sa
from werkzeug.test import TestResponse

from appliance.actors import CLI, Role
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.context import AppContext
from appliance.readers.service import Signer
from appliance.services import Services
from appliance.users.models import Membership, User, WebSession
from tests.functional.world import (
    LOGGERS,
    PASSWORD,
    Filed,
    Markers,
    Staff,
    World,
    audit_details,
    content_counts,
    count,
    is_redirect_to,
    make_staff,
    scalar,
)
from tests.support import FrozenClock, add_reader, install_escrow, principal, start_reader_list
from tests.web import Browser, file, sign_in, submit_report
from webapp.policy import policy_of

STAFF_COOKIE = "appliance-staff"
LOCKED_BADGE = '<span class="badge locked" data-testid="locked">Locked</span>'
NOT_SHARED = "This case is not shared with you."
KEY_RESET = "Your password was reset, so the key that opened this case is gone."
NOT_UNLOCKED = "Your key is not unlocked in this session."
WILL_LOSE = "This user will lose access to the cases shared with them"


@pytest.fixture
def newcomer(world: World, services: Services) -> Staff:
    """A handler of alpha who joined after every report was filed and was confirmed as a reader of
    shared cases: no copy of any case."""
    staff = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER)], "newcomer@alpha.example.com")
    add_reader(services, world.alpha.tenant_id, principal(services, world.alpha.staff[Role.HANDLER].user_id, PASSWORD),
               staff.user_id, receives=False)
    services.session.commit()
    return staff


def case_url(case: Filed) -> str:
    return f"/staff/cases/{case.id}"


def content_of(case: Filed) -> tuple[str, ...]:
    return (case.what, case.note, case.attachment_name, "handler answer", "warehouse")


def assert_locked(response: TestResponse, case: Filed, reason: str) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 403, (response.request.path, response.status_code)
    assert reason in page
    assert case.reference in page  # the metadata: which case, its status and deadline
    assert "Acknowledge by" in page
    shown = [text for text in content_of(case) if text in page]
    assert not shown, f"locked page shows {shown}"
    assert response.headers.get("Content-Disposition") is None
    return page


def holders_section(page: str) -> str:
    match = re.search(r'data-testid="holders">(.*?)</ul>', page, re.S)
    assert match, "no holders list on the case page"
    return match.group(1)


def queue_row(browser: Browser, case: Filed) -> str:
    page = browser.get("/staff/queue").get_data(as_text=True)
    rows = [row for row in re.split(r"<tr[ >]", page) if case.reference in row]
    assert len(rows) == 1, f"{case.reference} is not in the queue once"
    return rows[0]


def cookie(browser: Browser, name: str) -> str:
    held = browser.client.get_cookie(name)
    assert held is not None
    return held.value


def case_ids(ctx: AppContext) -> set[uuid.UUID]:
    with ctx.sessions() as session:
        try:
            return set(session.scalars(sa.select(Case.id)))
        finally:
            session.rollback()


def handler_seals(ctx: AppContext, case_id: uuid.UUID) -> dict[str, set[uuid.UUID | None]]:
    with ctx.sessions() as session:
        try:
            found: dict[str, set[uuid.UUID | None]] = {}
            for kind, user_id in session.execute(sa.select(CasePrivateKeySeal.kind, CasePrivateKeySeal.user_id)
                                                 .where(CasePrivateKeySeal.case_id == case_id)):
                found.setdefault(kind, set()).add(user_id)
            return found
        finally:
            session.rollback()


def file_over_http(world: World, what: str) -> tuple[uuid.UUID, str]:
    before = case_ids(world.ctx)
    key = submit_report(world.browser("192.0.2.50"), world.alpha.slug, str(world.alpha.category_id), what=what)
    (case_id,) = case_ids(world.ctx) - before
    return case_id, key


# --- routes ----------------------------------------------------------------------------------
def test_the_new_routes_declare_their_policies(app) -> None:  # type: ignore[no-untyped-def]
    expected = {"handler.grant_access": "staff:handler", "handler.revoke_access": "staff:handler",
                "admin.readers": "staff:admin", "admin.confirm_removal": "staff:admin"}
    assert {endpoint: policy_of(app.view_functions[endpoint]) for endpoint in expected} == expected


# --- a handler without a copy ----------------------------------------------------------------
def test_a_handler_without_a_copy_gets_the_locked_page_on_every_case_route(world: World, newcomer: Staff) -> None:
    browser = world.staff_browser(newcomer)
    case = world.alpha_case
    url = case_url(case)
    before = (content_counts(world.ctx), scalar(world.ctx, "SELECT status FROM cases WHERE id = :id", id=case.id))

    page = assert_locked(browser.get(url), case, NOT_SHARED)
    # Whom to ask: the handlers who hold a copy (both alpha handlers had one when it was filed).
    assert world.alpha.staff[Role.HANDLER].email in page and world.target.email in page
    assert "Received" in page and "Status" in page
    for attachment_id in (case.attachment_id, case.reply_attachment_id):
        assert_locked(browser.get(f"{url}/attachments/{attachment_id}"), case, NOT_SHARED)
    token = browser.token("/staff/account")
    for path, data in (("messages", {"body": "forged route"}), ("notes", {"body": "forged route"}),
                       ("status", {"status": "acknowledged"}), ("access", {"user": str(newcomer.user_id)}),
                       (f"access/{world.target.user_id}/revoke", {})):
        response = browser.post(f"{url}/{path}", {**data, "csrf_token": token}, csrf=False,
                                content_type="multipart/form-data")
        assert_locked(response, case, NOT_SHARED)
    after = (content_counts(world.ctx), scalar(world.ctx, "SELECT status FROM cases WHERE id = :id", id=case.id))
    assert after == before
    assert handler_seals(world.ctx, case.id)["handler"] == {world.alpha.staff[Role.HANDLER].user_id,
                                                            world.target.user_id}

    # The queue shows the case (metadata) and says, in words, that it is locked.
    row = queue_row(browser, case)
    assert LOCKED_BADGE in row
    assert LOCKED_BADGE not in queue_row(world.staff_browser(world.alpha.staff[Role.HANDLER]), case)


def test_a_locked_case_page_shows_and_logs_nothing_of_the_case(world: World, services: Services,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    mark = Markers()
    case_id, key = file_over_http(world, mark["what"])
    reporter = world.browser("192.0.2.51")
    assert reporter.post("/r/alpha/follow-up", {"case_key": key}).status_code == 303
    assert reporter.post("/r/alpha/case/reply", {"body": mark["reply"],
                                                 "attachments": [file(f"{mark['file']}.pdf", b"%PDF marker")]},
                         form_url="/r/alpha/case", content_type="multipart/form-data").status_code == 303
    holder = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = f"/staff/cases/{case_id}"
    assert holder.post(f"{url}/notes", {"body": mark["note"]}, form_url=url).status_code == 303
    holder_page = holder.get(url).get_data(as_text=True)
    assert all(mark[p] in holder_page for p in ("what", "reply", "note", "file"))
    attachments = re.findall(rf'href="({url}/attachments/[0-9a-f-]{{36}})"', holder_page)
    assert attachments

    newcomer = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER)])  # joined after the report
    locked_out = world.staff_browser(newcomer)
    caplog.clear()
    pages = [locked_out.get(url)] + [locked_out.get(link) for link in attachments]
    pages.append(locked_out.post(f"{url}/notes", {"body": "typed by the newcomer"}, form_url="/staff/account"))
    for response in pages:
        assert response.status_code == 403
        body = response.get_data(as_text=True)
        assert not [p for p, m in mark.all.items() if m in body], response.request.path
    assert caplog.records
    assert not [p for p, m in mark.all.items() if m in caplog.text]
    assert key not in caplog.text


# --- tampered sessions -----------------------------------------------------------------------
def test_a_tampered_session_reads_nothing(world: World, newcomer: Staff) -> None:
    case = world.alpha_case
    handler = world.alpha.staff[Role.HANDLER]
    holder = world.staff_browser(handler)
    assert holder.get(case_url(case)).status_code == 200
    token = cookie(holder, STAFF_COOKIE)

    # A cookie token changed by one character is no session at all.
    forged = world.browser()
    forged.client.set_cookie(STAFF_COOKIE, token[:-1] + ("A" if token[-1] != "A" else "B"))
    response = forged.get(case_url(case))
    assert is_redirect_to(response, "/staff/login")
    assert case.what not in response.get_data(as_text=True)

    # The newcomer's own, valid session with the holder's sealed key copied into it: the copy
    # is bound to the holder's cookie token and session row, so it opens nothing.
    other = world.staff_browser(newcomer)
    assert other.get("/staff/queue").status_code == 200
    with world.ctx.sessions() as session:
        rows = {row.user_id: row for row in session.scalars(sa.select(WebSession).where(
            WebSession.user_id.in_([handler.user_id, newcomer.user_id])))}
        assert rows[handler.user_id].secret_sealed is not None
        rows[newcomer.user_id].secret_sealed = rows[handler.user_id].secret_sealed
        session.commit()
    assert_locked(other.get(case_url(case)), case, NOT_UNLOCKED)
    assert LOCKED_BADGE in queue_row(other, case)

    # ... and the same row pointed at the holder's account: the holder's identity, but no key of theirs.
    with world.ctx.sessions() as session:
        row = session.scalars(sa.select(WebSession).where(WebSession.user_id == newcomer.user_id)).one()
        row.user_id = handler.user_id
        session.commit()
    assert_locked(other.get(case_url(case)), case, NOT_UNLOCKED)
    assert other.get(f"{case_url(case)}/attachments/{case.attachment_id}").status_code == 403

    # The holder's own session was never touched and still reads.
    assert case.what in holder.get(case_url(case)).get_data(as_text=True)


def test_a_session_with_another_users_key_reads_nothing(world: World, newcomer: Staff) -> None:
    """A session row re-pointed to a handler with access, still carrying the newcomer's own key."""
    case = world.alpha_case
    other = world.staff_browser(newcomer)
    with world.ctx.sessions() as session:
        row = session.scalars(sa.select(WebSession).where(WebSession.user_id == newcomer.user_id)).one()
        row.user_id = world.alpha.staff[Role.HANDLER].user_id
        session.commit()
    response = other.get(case_url(case))
    assert response.status_code == 403
    assert not [text for text in content_of(case) if text in response.get_data(as_text=True)]


# --- revoke and grant -------------------------------------------------------------------------
def test_after_revoke_the_handler_reads_nothing(world: World) -> None:
    case = world.alpha_case
    url = case_url(case)
    handler = world.alpha.staff[Role.HANDLER]
    holder = world.staff_browser(handler)
    revoked = world.staff_browser(world.target)
    assert case.what in revoked.get(url).get_data(as_text=True)
    assert world.target.email in holders_section(holder.get(url).get_data(as_text=True))

    response = holder.post(f"{url}/access/{world.target.user_id}/revoke", form_url=url)
    assert is_redirect_to(response, url)
    page = assert_locked(revoked.get(url), case, NOT_SHARED)
    assert handler.email in page
    assert revoked.get(f"{url}/attachments/{case.attachment_id}").status_code == 403
    assert LOCKED_BADGE in queue_row(revoked, case)
    assert world.target.email not in holders_section(holder.get(url).get_data(as_text=True))
    assert handler_seals(world.ctx, case.id)["handler"] == {handler.user_id}
    assert audit_details(world.ctx, "case_access.revoked") == [f"user={world.target.user_id}"]

    # The last copy stays: nobody could read the case without it.
    response = holder.post(f"{url}/access/{handler.user_id}/revoke", form_url=url)
    assert response.status_code == 400
    assert "This is the last handler who can open the case" in holder.text()
    assert case.what in holder.text()
    assert case.what in holder.get(url).get_data(as_text=True)

    # The reporter still reads with the case key.
    reporter = world.reporter_browser(world.alpha, case)
    assert case.what in reporter.get("/r/alpha/case").get_data(as_text=True)


def test_a_handler_can_withdraw_their_own_copy_while_a_colleague_keeps_one(world: World) -> None:
    url = case_url(world.alpha_case)
    leaving = world.staff_browser(world.target)
    assert is_redirect_to(leaving.post(f"{url}/access/{world.target.user_id}/revoke", form_url=url), "/staff/queue")
    assert_locked(leaving.get(url), world.alpha_case, NOT_SHARED)


def test_after_grant_the_new_handler_reads(world: World, newcomer: Staff, services: Services) -> None:
    case = world.alpha_case
    url = case_url(case)
    handler = world.alpha.staff[Role.HANDLER]
    holder = world.staff_browser(handler)
    joining = world.staff_browser(newcomer)
    assert_locked(joining.get(url), case, NOT_SHARED)
    page = holder.get(url).get_data(as_text=True)
    assert f'value="{newcomer.user_id}"' in page.split('data-testid="holders"')[1]  # offered in the share form

    response = holder.post(f"{url}/access", {"user": str(newcomer.user_id)}, form_url=url)
    assert is_redirect_to(response, url)
    page = joining.get(url).get_data(as_text=True)
    assert case.what in page and case.note in page
    download = joining.get(f"{url}/attachments/{case.attachment_id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert LOCKED_BADGE not in queue_row(joining, case)
    assert newcomer.email in holders_section(page)
    assert audit_details(world.ctx, "case_access.granted") == [f"user={newcomer.user_id}"]

    # The reporter still reads with the case key.
    reporter = world.reporter_browser(world.alpha, case)
    assert case.what in reporter.get("/r/alpha/case").get_data(as_text=True)


def test_grants_that_cannot_be_made_are_refused_inline(world: World, services: Services) -> None:
    case = world.alpha_case
    url = case_url(case)
    holder = world.staff_browser(world.alpha.staff[Role.HANDLER])
    without_key = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER)])
    with world.ctx.sessions() as session:  # an account from before the upgrade: no key pair yet
        user = session.get_one(User, without_key.user_id)
        user.public_key = None
        user.private_key_sealed = None
        session.commit()
    seals_before = handler_seals(world.ctx, case.id)
    not_a_reader = "is not a confirmed reader of this organisation"
    refused = {
        str(world.beta.staff[Role.HANDLER].user_id): not_a_reader,
        str(world.alpha.staff[Role.AUDITOR].user_id): not_a_reader,
        str(uuid.uuid4()): not_a_reader,
        "not-a-uuid": "Choose the handler to share the case with.",
        "": "Choose the handler to share the case with.",
        str(without_key.user_id): not_a_reader,
    }
    for user, message in refused.items():
        response = holder.post(f"{url}/access", {"user": user}, form_url=url)
        assert response.status_code == 400, user
        assert message in holder.text(), user
        assert case.what in holder.text()  # the case page, with the error in the access panel
    assert handler_seals(world.ctx, case.id) == seals_before
    # Another tenant's case: not found, as everywhere.
    response = holder.post(f"{case_url(world.beta_case)}/access", {"user": str(world.target.user_id)},
                           form_url=url)
    assert response.status_code == 404
    response = holder.post(f"{case_url(world.beta_case)}/access/{world.beta.staff[Role.HANDLER].user_id}/revoke",
                           form_url=url)
    assert response.status_code == 404
    assert world.beta_case.what not in holder.text()


# --- an administrator's password reset ------------------------------------------------------
def test_an_admin_reset_locks_old_cases_and_says_so(world: World) -> None:
    case = world.alpha_case
    target = world.target
    world.staff_browser(target)  # a live session that the reset ends
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    confirm_url = f"/admin/t/alpha/users/{target.user_id}/reset-password"
    users_page = admin.get("/admin/t/alpha/users").get_data(as_text=True)
    assert f'href="{confirm_url}"' in users_page
    confirm = admin.get(confirm_url)
    assert confirm.status_code == 200
    assert WILL_LOSE in admin.text() and target.email in admin.text()

    response = admin.post(confirm_url, {"confirmed": "yes"}, form_url=confirm_url)
    assert response.status_code == 200
    assert WILL_LOSE in admin.text()
    password = re.search(r'data-testid="new-password">([^<]+)</span>', admin.text())
    assert password
    assert is_redirect_to(world.signed_in.pop(target.user_id).get("/staff/queue"), "/staff/login")

    returning = world.browser()
    response = sign_in(returning, target.email, password.group(1), target.secret, world.clock)
    assert is_redirect_to(response, "/staff/choose-password")  # first their own password, and a new key
    own = "the target chose this one"
    assert is_redirect_to(returning.post("/staff/choose-password", {"new": own, "confirm": own}), "/staff/")
    account = returning.get("/staff/account")
    assert account.status_code == 200
    assert "Your password was reset on" in returning.text()
    assert LOCKED_BADGE in queue_row(returning, case)
    page = assert_locked(returning.get(case_url(case)), case, KEY_RESET)
    assert world.alpha.staff[Role.HANDLER].email in page
    for url in (f"{case_url(case)}/attachments/{case.attachment_id}",):
        assert returning.get(url).status_code == 403

    # A colleague shares it again once a reader confirmed the new key: the stale copy is replaced.
    holder = world.staff_browser(world.alpha.staff[Role.HANDLER])
    holders = holders_section(holder.get(case_url(case)).get_data(as_text=True))
    assert "Stale: password was reset" in holders and target.email in holders
    assert holder.post(f"{case_url(case)}/access", {"user": str(target.user_id)},
                       form_url=case_url(case)).status_code == 400  # the new key is not confirmed yet
    change = re.search(r'/staff/readers/alpha/changes/[0-9a-f-]{36}/confirm',
                       holder.get("/staff/readers").get_data(as_text=True))
    assert change
    assert is_redirect_to(holder.post(change.group(0), {}, form_url="/staff/readers"), "/staff/readers")
    assert is_redirect_to(holder.post(f"{case_url(case)}/access", {"user": str(target.user_id)},
                                      form_url=case_url(case)), case_url(case))
    assert case.what in returning.get(case_url(case)).get_data(as_text=True)
    assert LOCKED_BADGE not in queue_row(returning, case)


def test_a_password_change_keeps_access(world: World) -> None:
    case = world.alpha_case
    handler = world.alpha.staff[Role.HANDLER]
    browser = world.staff_browser(handler)
    new = "a brand new passphrase for alpha"
    response = browser.post("/staff/account", {"current": PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 200
    assert "Your password has been changed." in browser.text()
    assert 'data-testid="keys-reset"' not in browser.text()
    assert case.what in browser.get(case_url(case)).get_data(as_text=True)  # the same session keeps its key
    fresh = world.browser()
    assert sign_in(fresh, handler.email, new, handler.secret, world.clock).status_code == 303
    assert case.what in fresh.get(case_url(case)).get_data(as_text=True)
    assert LOCKED_BADGE not in queue_row(fresh, case)


def test_an_admin_cannot_open_the_reset_page_of_an_account_they_do_not_fully_administer(
        world: World, services: Services) -> None:
    shared = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER),
                                                (world.beta.tenant_id, Role.HANDLER)])
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.get(f"/admin/t/alpha/users/{shared.user_id}/reset-password").status_code == 403
    assert admin.get(f"/admin/t/alpha/users/{world.beta.staff[Role.ADMIN].user_id}/reset-password").status_code == 404
    assert admin.get(f"/admin/t/beta/users/{world.beta.staff[Role.ADMIN].user_id}/reset-password").status_code == 404


# --- who receives new reports ------------------------------------------------------------------
def test_new_reports_reach_exactly_the_readers_who_receive_them(world: World, services: Services) -> None:
    """The old recipients page is gone: receiving is a reader-list change a reader confirms."""
    handler = world.alpha.staff[Role.HANDLER]
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.get("/admin/t/alpha/recipients").status_code == 404
    url = f"/admin/t/alpha/readers/{world.target.user_id}/stop-receiving"
    assert is_redirect_to(admin.post(url, {}, form_url="/admin/t/alpha/readers"), "/admin/t/alpha/readers")
    pending, _ = file_over_http(world, "proposed but not confirmed")
    assert handler_seals(world.ctx, pending)["handler"] == {handler.user_id, world.target.user_id}
    reader = world.staff_browser(handler)
    page = reader.get("/staff/readers").get_data(as_text=True)
    change = re.search(r'/staff/readers/alpha/changes/([0-9a-f-]{36})/confirm', page)
    assert change, page
    assert is_redirect_to(reader.post(change.group(0), {}, form_url="/staff/readers"), "/staff/readers")

    only_one, _ = file_over_http(world, "reaches one handler")
    assert handler_seals(world.ctx, only_one)["handler"] == {handler.user_id}
    other = world.staff_browser(world.target)
    assert "reaches one handler" in reader.get(f"/staff/cases/{only_one}").get_data(as_text=True)
    assert other.get(f"/staff/cases/{only_one}").status_code == 403
    # Cases filed before the change keep their holders.
    assert world.alpha_case.what in other.get(case_url(world.alpha_case)).get_data(as_text=True)

    # An escrow key confirmed by a reader receives every new report too.
    tenant = services.tenants.by_slug("alpha")
    install_escrow(services, tenant.id, "alpha", principal(services, handler.user_id, PASSWORD))
    services.session.commit()
    assert "appliance keys escrow init" not in admin.get("/admin/t/alpha/readers").get_data(as_text=True)
    with_escrow, _ = file_over_http(world, "sealed to escrow too")
    seals = handler_seals(world.ctx, with_escrow)
    assert seals["handler"] == {handler.user_id} and seals["escrow"] == {None} and seals["reporter"] == {None}
    assert count(world.ctx, "channel_recipients") == 0


def test_removing_the_handler_role_of_a_cases_only_key_holder_is_refused_inline(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    handler = world.alpha.staff[Role.HANDLER]
    with world.ctx.unit_of_work() as session:  # the target receives no new reports (a reader confirmed it)
        desk = Services(world.ctx, session)
        change = desk.readers.propose_receives(world.alpha.tenant_id, world.target.user_id, False, CLI, "cli")
        desk.readers.confirm(world.alpha.tenant_id, change.id,
                             Signer.user(principal(desk, handler.user_id, PASSWORD)), CLI)
    only_theirs, _ = file_over_http(world, "only one key")
    roles_url = f"/admin/t/alpha/users/{handler.user_id}/roles"
    response = admin.post(roles_url, {"role": "handler", "action": "revoke", "confirmed": "yes"}, form_url="/admin/t/alpha/users")
    assert response.status_code == 400
    assert "holds the only key to at least one case" in admin.text()
    assert count(world.ctx, "memberships", "user_id = :id AND role = :role", id=handler.user_id, role="handler") == 1
    assert "only one key" in world.staff_browser(handler).get(f"/staff/cases/{only_theirs}").get_data(as_text=True)
    # Once a colleague holds a copy, the role goes, and with it the handler's keys.
    url = f"/staff/cases/{only_theirs}"
    assert is_redirect_to(world.staff_browser(handler).post(f"{url}/access", {"user": str(world.target.user_id)},
                                                            form_url=url), url)
    assert is_redirect_to(admin.post(roles_url, {"role": "handler", "action": "revoke", "confirmed": "yes"},
                                     form_url="/admin/t/alpha/users"), "/admin/t/alpha/users")
    assert handler.user_id not in handler_seals(world.ctx, only_theirs)["handler"]


# --- a reporter whose copy is pending ----------------------------------------------------------
def test_a_reporter_with_a_pending_copy_writes_and_reads_again_after_a_handler_opened_the_case(world: World) -> None:
    case = world.alpha_case
    with world.ctx.sessions() as session:  # as `appliance keys seal-existing` leaves a migrated case
        session.execute(sa.delete(CasePrivateKeySeal).where(CasePrivateKeySeal.case_id == case.id,
                                                            CasePrivateKeySeal.kind == "reporter"))
        session.commit()
    reporter = world.reporter_browser(world.alpha, case)
    page = reporter.get("/r/alpha/case")
    assert page.status_code == 200
    assert "Your report is safe." in reporter.text()
    assert case.what not in reporter.text() and "handler answer" not in reporter.text()
    assert 'name="body"' in reporter.text()  # the reply form stays
    response = reporter.post("/r/alpha/case/reply", {"body": "written while pending"}, form_url="/r/alpha/case",
                             content_type="multipart/form-data")
    assert response.status_code == 303
    assert reporter.get(f"/r/alpha/case/attachments/{case.attachment_id}").status_code == 404

    holder = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = holder.get(case_url(case)).get_data(as_text=True)
    assert "written while pending" in page and 'data-testid="reporter-copy"' in page
    assert "reporter" not in handler_seals(world.ctx, case.id)  # opening the case added no copy
    restore = f"{case_url(case)}/reporter-copy"
    assert holder.post(restore, {}, csrf=False).status_code == 400  # CSRF
    assert world.staff_browser(world.beta.staff[Role.HANDLER]).post(restore, {}, form_url="/staff/queue"
                                                                     ).status_code == 404
    assert is_redirect_to(holder.post(restore, {}, form_url=case_url(case)), case_url(case))
    assert handler_seals(world.ctx, case.id)["reporter"] == {None}  # the handler's deliberate act
    assert holder.post(restore, {}, form_url=case_url(case)).status_code == 400  # nothing left to restore

    again = world.reporter_browser(world.alpha, case, "192.0.2.11")
    page_text = again.get("/r/alpha/case").get_data(as_text=True)
    assert case.what in page_text and "written while pending" in page_text
    assert "Your report is safe." not in page_text


# --- a channel nobody could read ----------------------------------------------------------------
def test_a_channel_with_no_handler_key_and_no_escrow_refuses_reports_before_anything_is_stored(
        app, services: Services, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    tenant = services.tenants.create_tenant("Empty AB", "empty", CLI)
    services.session.commit()
    make_staff(services, clock, [(tenant.id, Role.ADMIN)])
    category = str(services.tenants.categories(tenant.id)[0].id)
    services.session.commit()
    reporter = Browser(app)
    assert reporter.get("/r/empty/").status_code == 200
    assert "This channel cannot receive reports yet." in reporter.text()
    assert 'href="/r/empty/report"' not in reporter.text()
    response = reporter.get("/r/empty/report")
    assert response.status_code == 503
    assert "This channel cannot receive reports yet." in reporter.text() and 'name="what"' not in reporter.text()

    token = reporter.token("/r/empty/follow-up")  # the report form itself is not offered
    response = reporter.post("/r/empty/report", {"csrf_token": token, "category": category,
                                                  "what": "written before anyone could read it"},
                             csrf=False, content_type="multipart/form-data")
    assert response.status_code == 503
    assert "written before anyone could read it" in reporter.text()  # kept for the reporter to copy
    assert "Nothing you write is stored." in reporter.text()
    assert count(services.ctx, "cases") == 0

    # A handler with a key is not enough either: only once the reader list is started.
    first = make_staff(services, clock, [(tenant.id, Role.HANDLER)])
    assert reporter.get("/r/empty/report").status_code == 503
    admin = services.session.execute(sa.select(Membership.user_id).where(
        Membership.tenant_id == tenant.id, Membership.role == "admin")).scalar_one()
    start_reader_list(services, tenant.id, principal(services, first.user_id, PASSWORD),
                      principal(services, admin, PASSWORD))
    services.session.commit()
    assert reporter.get("/r/empty/report").status_code == 200
    submit_report(reporter, "empty", category, what="read by the first reader")
    assert count(services.ctx, "cases") == 1

