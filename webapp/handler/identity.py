"""The reporter's identity (Directive 2019/1937 Art. 16): asking for consent to disclose it, and
recording a disclosure on a given consent or a legal ground. Who it goes to and why are sealed
to the case; the logbook keeps ids and kinds only."""

from __future__ import annotations

import uuid

from flask import g
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import InvalidInput
from webapp.handler import confirmations
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import ConsentRequestForm, disclosure_form
from webapp.handler.views import render_case
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()

@routes.post("/cases/<uuid:case_id>/consent")
@access("staff:handler")
def request_consent(case_id: uuid.UUID) -> Response | tuple[str, int]:
    """Ask the reporter; they answer on their follow-up page."""
    form = ConsentRequestForm()
    if form.validate_on_submit():
        desk = HandlerDesk.of_request()
        try:
            with desk.attempt():
                desk.identity_consents.request(g.principal, case_id, form.recipients.data or "",
                                               form.purpose.data or "")
        except InvalidInput as exc:
            getattr(form, exc.field, form.recipients).errors = [_("Fill in this field (at most 2,000 characters).")]
        else:
            return confirmations.done(case_id, "consent-asked")
    return render_case(case_id, consent_form=form), 400


@routes.post("/cases/<uuid:case_id>/disclosures")
@access("staff:handler")
def record_disclosure(case_id: uuid.UUID) -> Response | tuple[str, int]:
    """Record a disclosure: refused unless on a consent the reporter gave or on a stated legal ground."""
    desk = HandlerDesk.of_request()
    form = disclosure_form(desk.identity_consents.for_handler(g.principal, case_id), formdata=True)
    if form.validate_on_submit():
        kind, _sep, value = (form.basis.data or "").partition(":")
        try:
            consent_id = uuid.UUID(value) if kind == "consent" else None
        except ValueError:
            consent_id = None
            kind = ""
        try:
            with desk.attempt():
                desk.identity_consents.record_disclosure(
                    g.principal, case_id, form.recipients.data or "",
                    consent_id=consent_id if kind == "consent" else None,
                    legal_ground=value if kind == "ground" else "", ground=form.ground.data or "",
                    notice=form.notice.data or "", explanation=form.explanation.data or "",
                    withheld_reason=form.withheld_reason.data or "")
        except InvalidInput as exc:
            if exc.field == "ground":
                form.ground.errors = [_("Explain the legal ground (at most 2,000 characters).")]
            elif exc.field == "notice":
                form.notice.errors = [_("Say whether the reporter is informed before the disclosure.")]
            elif exc.field == "explanation":
                form.explanation.errors = [_("Write the explanation the reporter will read (at most 20,000 "
                                             "characters).")]
            elif exc.field == "withheld_reason":
                form.withheld_reason.errors = [_("Say why informing the reporter would jeopardise the "
                                                 "investigation or proceedings (at most 2,000 characters).")]
            elif exc.field == "recipients":
                form.recipients.errors = [_("Fill in this field (at most 2,000 characters).")]
            else:
                form.basis.errors = [_("Choose a consent the reporter gave, or a legal ground.")]
        else:
            return confirmations.done(case_id, "disclosed")
    return render_case(case_id, disclosure_form=form), 400
