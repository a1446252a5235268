"""Closing a report at triage: spam, or a duplicate of an earlier case, closed from RECEIVED
without an acknowledgement (appliance/cases/triage.py). The first submit is checked and answered
with a confirmation page; only the confirmation page's button closes the case."""

from __future__ import annotations

import uuid

from flask import g, render_template
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.cases.triage import ITSELF, NO_SUCH_CASE, NOT_A_DUPLICATE
from appliance.errors import InvalidInput
from webapp.handler import confirmations
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import PostForm
from webapp.handler.triage_form import TriageForm
from webapp.handler.views import render_case
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.post("/cases/<uuid:case_id>/triage")
@access("staff:handler")
def close_at_triage(case_id: uuid.UUID) -> Response | str | tuple[str, int]:
    form = TriageForm()
    if not form.validate_on_submit():
        return render_case(case_id, triage_form=form), 400
    desk = HandlerDesk.of_request()
    outcome, reference = form.outcome.data or "", form.duplicate_of.data or ""
    try:
        with desk.attempt():
            if form.confirmed_on_submit():
                desk.cases.close_at_triage(g.principal, case_id, outcome, reference)
            else:
                earlier = desk.cases.check_triage(g.principal, case_id, outcome, reference)
                summary = desk.cases.summary(g.principal, case_id)
                return render_template("handler/triage_confirm.html", case=summary, outcome=outcome,
                                       earlier=earlier, form=form, logout=PostForm())
    except InvalidInput as exc:
        _explain(form, exc)
        return render_case(case_id, triage_form=form), 400
    return confirmations.done(case_id, "closed-at-triage")


def _explain(form: TriageForm, exc: InvalidInput) -> None:
    """The domain's refusal in the handler's language, on the field it is about."""
    if exc.field == "duplicate_of":
        form.duplicate_of.errors = [{
            NO_SUCH_CASE: _("No case you can open has this reference. Check the reference in the work queue."),
            ITSELF: _("A case cannot be a duplicate of itself."),
            NOT_A_DUPLICATE: _("Leave the reference empty for a message that is not a "
                                                     "report, or choose “duplicate”."),
        }.get(exc.reason, _("Enter the whole reference of the earlier case, like ABCD-1234."))]
    elif exc.field == "status":
        form.outcome.errors = [_("Only a report that was not yet acknowledged can be closed this way.")]
    else:
        form.outcome.errors = [_("Choose why the report is closed.")]
