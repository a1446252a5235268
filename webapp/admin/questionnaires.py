"""Administration: a channel's questionnaire. Adding or removing a question publishes a new
version; reports keep the version they were asked.

Routes on the admin blueprint (webapp/admin/__init__.py registers them).
"""

from __future__ import annotations

import uuid

from flask import g, redirect, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.tenants.questionnaire import Condition
from webapp.admin.channels import render_channel
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import PostForm, question_form
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.post("/t/<slug>/channels/<uuid:channel_id>/questions")
@access("staff:admin")
def add_question(slug: str, channel_id: uuid.UUID) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    row = desk.channels.channel(tenant.id, channel_id)
    questions = desk.questionnaires.questions(desk.questionnaires.current(row))
    form = question_form([(q.key, q.label) for q in questions if q.kind in ("yes_no", "single")])
    if form.validate_on_submit():
        condition = Condition(form.show_if.data, (form.show_value.data or "").strip()) if form.show_if.data else None
        try:
            with desk.attempt():
                desk.questionnaires.add_question(row, form.kind.data or "", form.label.data or "",
                                                 bool(form.required.data), (form.options.data or "").splitlines(),
                                                 condition, g.principal.actor)
        except InvalidInput as exc:
            return render_channel(desk, tenant, row, questions_form=form, question_error=_question_error(exc)), 400
        return redirect(url_for("admin.channel", slug=slug, channel_id=row.id, _anchor="questionnaire"), code=303)
    return render_channel(desk, tenant, row, questions_form=form), 400


@routes.post("/t/<slug>/channels/<uuid:channel_id>/questions/<question_key>/remove")
@access("staff:admin")
def remove_question(slug: str, channel_id: uuid.UUID, question_key: str) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    row = desk.channels.channel(tenant.id, channel_id)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    try:
        with desk.attempt():
            desk.questionnaires.remove_question(row, question_key[:40], g.principal.actor)
    except NotFound:
        pass  # removed already (a page left open): nothing to do, the channel's page shows what is there
    except (InvalidInput, Conflict):
        return render_channel(desk, tenant, row, question_error=_(
            "Another question is asked only after this one: remove that question first.")), 400
    return redirect(url_for("admin.channel", slug=slug, channel_id=row.id, _anchor="questionnaire"), code=303)


def _question_error(exc: InvalidInput) -> str:
    messages = {
        "label": _("Write the question (at most 500 characters)."),
        "options": _("A choice needs one to 50 different options, one per line; other kinds take none."),
        "show_if": _("The condition must name an earlier yes/no or single-choice question and one of its answers."),
        "kind": _("Choose the kind of answer."),
        "questions": _("A questionnaire has at most 50 questions."),
    }
    return messages.get(exc.field, _("Please check this question."))
