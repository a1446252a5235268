"""Reporting channels over HTTP: an administrator makes a channel and proposes its readers, a
reader confirms, the portal lists the channels and the report reaches only that channel's
readers; the Art. 9(1)(g) text. Policies, CSRF, other tenants, tampered ids, XSS (both databases)."""

from __future__ import annotations

import io
import re
import uuid

import sqlalchemy as sa

from appliance.actors import Role
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.readers.models import ReaderChange
from appliance.tenants.models import ReportingChannel
from tests.functional.pdf_text import pdf_text, squeezed
from tests.functional.world import World, count, is_redirect_to
from tests.web import receipt_key

XSS = '<script>alert("channel")</script>'


def channel_id(world: World, name: str) -> uuid.UUID:
    with world.ctx.sessions() as session:
        return session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.tenant_id == world.alpha.tenant_id, ReportingChannel.name == name)).scalar_one()


def default_channel(world: World) -> uuid.UUID:
    with world.ctx.sessions() as session:
        return session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.tenant_id == world.alpha.tenant_id, ReportingChannel.is_default.is_(True))).scalar_one()


def pending_channel_change(world: World) -> uuid.UUID:
    with world.ctx.sessions() as session:
        return session.execute(sa.select(ReaderChange.id).where(
            ReaderChange.tenant_id == world.alpha.tenant_id, ReaderChange.kind == "channel",
            ReaderChange.state == "pending")).scalar_one()


def make_channel(world: World, name: str) -> uuid.UUID:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post("/admin/t/alpha/channels", {"name": name, "intro": f"Intro {XSS}"})
    assert response.status_code == 303, admin.text()
    return channel_id(world, name)


def test_the_channel_routes_declare_their_policies(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.policy import policy_of

    expected = {"admin.channels": "staff:admin", "admin.channel": "staff:admin",
                "admin.channel_readers": "staff:admin", "admin.toggle_channel": "staff:admin",
                "admin.external_reporting": "staff:admin"}
    assert {endpoint: policy_of(app.view_functions[endpoint]) for endpoint in expected} == expected


def test_one_channel_leads_straight_to_the_form(world: World) -> None:
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert 'data-testid="channels"' not in page
    assert 'href="/r/alpha/report"' in page


def test_a_second_channels_report_reaches_only_its_readers_over_http(world: World) -> None:
    channel = make_channel(world, f"Subsidiary {XSS}")
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post(f"/admin/t/alpha/channels/{channel}/readers", {"members": [str(world.target.user_id)]},
                          form_url=f"/admin/t/alpha/channels/{channel}")
    assert is_redirect_to(response, "/admin/t/alpha/readers")
    change = pending_channel_change(world)
    assert "Reports of the channel Subsidiary &lt;script&gt;" in admin.get("/admin/t/alpha/readers").get_data(
        as_text=True)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    response = handler.post(f"/staff/readers/alpha/changes/{change}/confirm", form_url="/staff/readers")
    assert response.status_code == 303, handler.text()

    portal = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert 'data-testid="channels"' in portal and XSS not in portal
    assert f"/r/alpha/report?channel={channel}" in portal
    reporter = world.browser("192.0.2.77")
    url = f"/r/alpha/report?channel={channel}"
    form = reporter.get(url).get_data(as_text=True)
    assert "Subsidiary &lt;script&gt;" in form and XSS not in form
    response = reporter.post(url, {"category": str(world.alpha.category_id), "what": "For the subsidiary only"},
                             content_type="multipart/form-data")
    assert receipt_key(reporter, response)
    with world.ctx.sessions() as session:
        case = session.execute(sa.select(Case).where(Case.reporting_channel_id == channel)).scalar_one()
        sealed = set(session.execute(sa.select(CasePrivateKeySeal.user_id).where(
            CasePrivateKeySeal.case_id == case.id, CasePrivateKeySeal.kind == "handler")).scalars())
    assert sealed == {world.target.user_id}
    assert case.reference not in handler.get("/staff/queue").get_data(as_text=True)
    target = world.staff_browser(world.target)
    assert case.reference in target.get("/staff/queue").get_data(as_text=True)
    page = target.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "For the subsidiary only" in page
    assert 'data-testid="reporting-channel">Subsidiary &lt;script&gt;' in page and XSS not in page


def test_a_report_link_with_a_tampered_channel_is_not_found(world: World) -> None:
    reporter = world.browser()
    assert reporter.get("/r/alpha/report?channel=not-a-uuid").status_code == 404
    assert reporter.get(f"/r/alpha/report?channel={uuid.uuid4()}").status_code == 404
    beta_admin = world.staff_browser(world.beta.staff[Role.ADMIN])
    assert beta_admin.post("/admin/t/beta/channels", {"name": "Beta only"}).status_code == 303
    with world.ctx.sessions() as session:
        beta_channel = session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.name == "Beta only")).scalar_one()
    assert reporter.get(f"/r/alpha/report?channel={beta_channel}").status_code == 404
    before = count(world.ctx, "cases")
    response = reporter.post(f"/r/alpha/report?channel={beta_channel}",
                             {"category": str(world.alpha.category_id), "what": "crossing over"},
                             form_url="/r/alpha/report", content_type="multipart/form-data")
    assert response.status_code == 404 and count(world.ctx, "cases") == before


def test_a_closed_channel_is_not_offered(world: World) -> None:
    channel = make_channel(world, "Closing soon")
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert 'data-testid="channels"' in world.browser().get("/r/alpha/").get_data(as_text=True)
    assert admin.post(f"/admin/t/alpha/channels/{channel}/toggle", form_url="/admin/t/alpha/channels"
                      ).status_code == 303
    assert 'data-testid="channels"' not in world.browser().get("/r/alpha/").get_data(as_text=True)
    assert world.browser().get(f"/r/alpha/report?channel={channel}").status_code == 404


def test_the_default_channel_stays_open(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    default = default_channel(world)
    response = admin.post(f"/admin/t/alpha/channels/{default}/toggle", form_url="/admin/t/alpha/channels")
    assert response.status_code == 400
    assert "The default channel stays open." in admin.text()


def test_channel_forms_refuse_bad_input(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.post("/admin/t/alpha/channels", {"name": ""}).status_code == 400
    assert admin.post("/admin/t/alpha/channels", {"name": "x" * 201}).status_code == 400
    assert admin.post("/admin/t/alpha/channels", {"name": "ok", "categories": ["nope"]}).status_code == 400
    beta_category = str(world.beta.category_id)
    assert admin.post("/admin/t/alpha/channels", {"name": "ok", "categories": [beta_category]}).status_code == 400
    assert admin.post("/admin/t/alpha/channels", {"name": "no token"}, csrf=False).status_code == 400
    assert count(world.ctx, "reporting_channels", "tenant_id = :t", t=world.alpha.tenant_id) == 1
    channel = make_channel(world, "Readers")
    response = admin.post(f"/admin/t/alpha/channels/{channel}/readers", {"members": [str(uuid.uuid4())]},
                          form_url=f"/admin/t/alpha/channels/{channel}")
    assert response.status_code == 400
    response = admin.post(f"/admin/t/alpha/channels/{channel}/readers",
                          {"members": [str(world.beta.staff[Role.HANDLER].user_id)]},
                          form_url=f"/admin/t/alpha/channels/{channel}")
    assert response.status_code == 400
    assert count(world.ctx, "reader_changes", "kind = 'channel'") == 0


def test_other_roles_and_tenants_cannot_reach_channel_pages(world: World) -> None:
    channel = make_channel(world, "Private topic")
    for role in (Role.HANDLER, Role.AUDITOR):
        browser = world.staff_browser(world.alpha.staff[role])
        assert browser.get("/admin/t/alpha/channels").status_code in (403, 404)
    beta_admin = world.staff_browser(world.beta.staff[Role.ADMIN])
    assert beta_admin.get(f"/admin/t/alpha/channels/{channel}").status_code == 404
    assert beta_admin.get(f"/admin/t/beta/channels/{channel}").status_code == 404  # alpha's id under beta
    assert beta_admin.post(f"/admin/t/beta/channels/{channel}", {"name": "renamed"},
                           form_url="/admin/t/beta/channels").status_code == 404
    assert channel_id(world, "Private topic") == channel


def test_the_portal_shows_the_external_reporting_information(world: World) -> None:
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert 'data-testid="external-reporting"' in page and "competent authority" in page
    assert "Art. 10" in page
    swedish = world.browser().get("/r/alpha/", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "behöriga myndigheten" in swedish
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    text = f"Report to Finansinspektionen: finansinspektionen.se {XSS}"
    response = admin.post("/admin/t/alpha/external-reporting", {"text": text})
    assert is_redirect_to(response, "/admin/t/alpha/external-reporting")
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert "Report to Finansinspektionen" in page and XSS not in page
    assert "competent authority for the matter" not in page
    assert admin.post("/admin/t/alpha/external-reporting", {"text": "y" * 8001}).status_code == 400
    assert admin.post("/admin/t/alpha/external-reporting", {"text": ""}).status_code == 303
    assert "competent authority for the matter" in world.browser().get("/r/alpha/").get_data(as_text=True)


def test_logbook_names_channels_by_id_only(world: World) -> None:
    name = "Marker channel name 7Q2"
    make_channel(world, name)
    with world.ctx.sessions() as session:
        details = " ".join(str(d) for d in session.execute(sa.text("SELECT detail FROM audit_events")).scalars())
    assert name not in details and not re.search(r"Intro", details)


# --- questionnaires ---------------------------------------------------------------------------
def add_question(world: World, channel: uuid.UUID, **data: str) -> int:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post(f"/admin/t/alpha/channels/{channel}/questions", {"kind": "text", **data},
                          form_url=f"/admin/t/alpha/channels/{channel}")
    return response.status_code


def test_a_questionnaire_with_a_condition_changed_after_a_report(world: World) -> None:
    channel = default_channel(world)
    assert add_question(world, channel, label="Were you harmed?", kind="yes_no", required="y") == 303
    assert add_question(world, channel, label=f"How were you harmed? {XSS}", kind="long_text", required="y",
                        show_if="q1", show_value="yes") == 303
    reporter = world.browser("192.0.2.88")
    form = reporter.get("/r/alpha/report").get_data(as_text=True)
    assert 'name="q_q1"' in form and 'name="q_q2"' in form and XSS not in form
    assert "Answer only if your answer to “Were you harmed?” is “Yes”." in form
    base = {"category": str(world.alpha.category_id), "what": "Questionnaire report"}
    # Required, and shown by the condition: the server refuses without it, and keeps what was typed.
    response = reporter.post("/r/alpha/report", {**base, "q_q1": "yes"}, content_type="multipart/form-data")
    assert response.status_code == 400 and 'data-testid="question-errors"' in reporter.text()
    assert 'value="yes" checked' in reporter.text()
    response = reporter.post("/r/alpha/report", {**base, "q_q1": "maybe"}, content_type="multipart/form-data")
    assert response.status_code == 400
    response = reporter.post("/r/alpha/report", {**base, "q_q1": "yes", "q_q2": "Marker harm 9ZT"},
                             content_type="multipart/form-data")
    key = receipt_key(reporter, response)
    # The questionnaire changes: the old report keeps its questions.
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.post(f"/admin/t/alpha/channels/{channel}/questions/q2/remove",
                      form_url=f"/admin/t/alpha/channels/{channel}").status_code == 303
    assert admin.post(f"/admin/t/alpha/channels/{channel}/questions/q1/remove",
                      form_url=f"/admin/t/alpha/channels/{channel}").status_code == 303
    assert add_question(world, channel, label="Which site?", kind="single", options="Malmö\nLund") == 303
    assert 'name="q_q2"' not in reporter.get("/r/alpha/report").get_data(as_text=True)
    with world.ctx.sessions() as session:
        old = session.execute(sa.select(Case).where(Case.questionnaire_version_id.is_not(None))).scalar_one()
        versions = session.execute(sa.text("SELECT count(*) FROM questionnaire_versions")).scalar_one()
    assert versions == 5
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = handler.get(f"/staff/cases/{old.id}").get_data(as_text=True)
    assert "Were you harmed?" in page and "How were you harmed? &lt;script&gt;" in page and "Marker harm 9ZT" in page
    assert "Which site?" not in page and XSS not in page
    pdf = handler.post(f"/staff/cases/{old.id}/export", {}, form_url=f"/staff/cases/{old.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = squeezed(pdf_text(pdf.data))
    assert squeezed("Were you harmed?") in text and squeezed("Marker harm 9ZT") in text
    assert squeezed("Which site?") not in text
    # The reporter's own case page shows their answers with the questions they were asked.
    reader = world.browser("192.0.2.89")
    assert reader.post("/r/alpha/follow-up", {"case_key": key}).status_code == 303
    mine = reader.get("/r/alpha/case").get_data(as_text=True)
    answers = mine[mine.index('data-testid="answers"'):]
    assert "Were you harmed?" in answers and "How were you harmed? &lt;script&gt;" in answers
    assert "Marker harm 9ZT" in answers and "Which site?" not in mine and XSS not in mine


def test_a_reporter_of_another_report_does_not_see_these_answers(world: World) -> None:
    channel = default_channel(world)
    assert add_question(world, channel, label="Were you harmed?", kind="yes_no") == 303
    reporter = world.browser("192.0.2.90")
    base = {"category": str(world.alpha.category_id), "what": "Questionnaire report"}
    response = reporter.post("/r/alpha/report", {**base, "q_q1": "yes"}, content_type="multipart/form-data")
    assert receipt_key(reporter, response)
    # The world's own case was filed before the question existed: its reporter sees no answers.
    other = world.reporter_browser(world.alpha, world.alpha_case).get("/r/alpha/case").get_data(as_text=True)
    assert 'data-testid="answers"' not in other and "Were you harmed?" not in other


def test_a_question_removed_while_another_depends_on_it_stays(world: World) -> None:
    channel = default_channel(world)
    assert add_question(world, channel, label="Anything else?", kind="yes_no") == 303
    assert add_question(world, channel, label="What else?", show_if="q1", show_value="yes") == 303
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.post(f"/admin/t/alpha/channels/{channel}/questions/q1/remove",
                      form_url=f"/admin/t/alpha/channels/{channel}").status_code == 400
    assert add_question(world, channel, label="Bad condition", show_if="q2", show_value="x") == 400
    assert add_question(world, channel, label="", kind="text") == 400
    assert add_question(world, channel, label="Choice without options", kind="single") == 400
    assert add_question(world, channel, label="Unknown kind", kind="slider") == 400
    beta_admin = world.staff_browser(world.beta.staff[Role.ADMIN])
    assert beta_admin.post(f"/admin/t/beta/channels/{channel}/questions", {"label": "x", "kind": "text"},
                           form_url="/admin/t/beta/channels").status_code == 404
    with world.ctx.sessions() as session:
        assert session.execute(sa.text("SELECT count(*) FROM questionnaire_versions")).scalar_one() == 2


def test_a_file_question_uses_the_attachment_path(world: World) -> None:
    channel = default_channel(world)
    assert add_question(world, channel, label="Evidence", kind="file", required="y") == 303
    reporter = world.browser("192.0.2.99")
    base = {"category": str(world.alpha.category_id), "what": "With evidence"}
    assert reporter.post("/r/alpha/report", base, content_type="multipart/form-data").status_code == 400
    response = reporter.post("/r/alpha/report", {**base, "q_q1": (io.BytesIO(b"%PDF-1.4 evidence"), "scan.pdf",
                                                                  "application/pdf")},
                             content_type="multipart/form-data")
    assert response.status_code == 303, reporter.text()
    with world.ctx.sessions() as session:
        case = session.execute(sa.select(Case).where(Case.questionnaire_version_id.is_not(None))).scalar_one()
        attachments = session.execute(sa.text("SELECT count(*) FROM attachments WHERE case_id = :c"),
                                      {"c": case.id.hex if session.get_bind().dialect.name == "sqlite" else case.id}
                                      ).scalar_one()
    assert attachments == 1
    page = world.staff_browser(world.alpha.staff[Role.HANDLER]).get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert 'data-testid="answers"' in page and "scan.pdf" in page
