"""Issue 17, part 2 (slice 2, the domain): a channel's questionnaire, versioned; answers sealed
with the report and checked on the server (both databases)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.cases.models import Case
from appliance.cases.read_models import AnsweredQuestion
from appliance.cases.reporting import NewReport
from appliance.errors import Conflict, InvalidInput
from appliance.services import Services
from appliance.tenants.models import ReportingChannel
from appliance.tenants.questionnaire import FILE, MULTIPLE, TEXT, YES_NO, Condition, Question
from appliance.tenants.questionnaires import Questionnaires
from tests.functional.conftest import Org

pytestmark = pytest.mark.one_session

MARKER = "Marker answer 5KX harmed at the loading dock"
HARMED = Question("harmed", YES_NO, "Were you harmed?", required=True)
HOW = Question("how", TEXT, "How were you harmed?", required=True, show_if=Condition("harmed", "yes"))


def questionnaires(services: Services) -> Questionnaires:
    return Questionnaires(services.session, services.logbook, services.ctx.clock)


def file(services: Services, org: Org, channel: ReportingChannel, **answers: list[str]) -> Case:
    receipt = services.reporting.submit(org.tenant, NewReport(org.category_id, "Stock sold off the books.",
                                                              reporting_channel_id=channel.id, answers=answers), [])
    case = services.session.get(Case, receipt.case_id)
    assert case is not None
    return case


def test_a_required_question_is_enforced_only_when_its_condition_shows_it(services: Services, org_a: Org) -> None:
    channel = services.channels.default(org_a.tenant.id)
    questionnaires(services).publish(channel, [HARMED, HOW], CLI)
    with pytest.raises(InvalidInput) as missing:
        file(services, org_a, channel)
    assert missing.value.field == "q_harmed"
    with pytest.raises(InvalidInput) as hidden_but_needed:
        file(services, org_a, channel, harmed=["yes"])
    assert hidden_but_needed.value.field == "q_how"
    with pytest.raises(InvalidInput):
        file(services, org_a, channel, harmed=["maybe"])
    case = file(services, org_a, channel, harmed=["no"], how=["sent anyway, never kept"])
    view = services.cases.open_case(org_a.handler, case.id)
    assert view.answers == (AnsweredQuestion("Were you harmed?", YES_NO, "no"),)


def test_an_old_report_keeps_the_questions_it_was_asked(services: Services, org_a: Org) -> None:
    channel = services.channels.default(org_a.tenant.id)
    first = questionnaires(services).publish(channel, [HARMED, HOW], CLI)
    old = file(services, org_a, channel, harmed=["yes"], how=[MARKER])
    second = questionnaires(services).publish(channel, [
        Question("harmed", YES_NO, "Did anyone get hurt?", required=True),
        Question("areas", MULTIPLE, "Which areas?", options=("Finance", "Warehouse"))], CLI)
    assert (first.number, second.number) == (1, 2)
    new = file(services, org_a, channel, harmed=["no"], areas=["Warehouse"], how=["not asked any more"])
    assert old.questionnaire_version_id == first.id and new.questionnaire_version_id == second.id
    assert services.cases.open_case(org_a.handler, old.id).answers == (
        AnsweredQuestion("Were you harmed?", YES_NO, "yes"), AnsweredQuestion("How were you harmed?", TEXT, MARKER))
    assert services.cases.open_case(org_a.handler, new.id).answers == (
        AnsweredQuestion("Did anyone get hurt?", YES_NO, "no"),
        AnsweredQuestion("Which areas?", MULTIPLE, ("Warehouse",)))
    with pytest.raises(Conflict):  # the same questions again are no new version
        questionnaires(services).publish(channel, [
            Question("harmed", YES_NO, "Did anyone get hurt?", required=True),
            Question("areas", MULTIPLE, "Which areas?", options=("Finance", "Warehouse"))], CLI)


def test_answers_are_sealed_with_the_report(services: Services, org_a: Org) -> None:
    channel = services.channels.default(org_a.tenant.id)
    questionnaires(services).publish(channel, [HARMED, HOW], CLI)
    case = file(services, org_a, channel, harmed=["yes"], how=[MARKER])
    services.session.flush()
    stored = services.session.execute(sa.text("SELECT answers_sealed FROM cases WHERE reference = :r"),
                                      {"r": case.reference}).scalar_one()
    assert stored is not None and MARKER.encode() not in bytes(stored)
    logged = " ".join(str(d) for d in services.session.execute(sa.text("SELECT detail FROM audit_events")).scalars())
    assert MARKER not in logged


def test_a_channel_without_questions_stores_no_answers(services: Services, org_a: Org) -> None:
    channel = services.channels.default(org_a.tenant.id)
    case = file(services, org_a, channel, stray=["ignored"])
    assert case.answers_sealed is None and case.questionnaire_version_id is None
    assert services.cases.open_case(org_a.handler, case.id).answers == ()


def test_each_channel_has_its_own_questionnaire(services: Services, org_a: Org, org_b: Org) -> None:
    other = services.channels.create(org_a.tenant.id, "Subsidiary", "", [], CLI)
    questionnaires(services).publish(other, [Question("evidence", FILE, "Upload evidence")], CLI)
    assert services.reporting.questions(services.channels.default(org_a.tenant.id)) == ()
    assert [q.key for q in services.reporting.questions(other)] == ["evidence"]
    assert services.reporting.questions(services.channels.default(org_b.tenant.id)) == ()
