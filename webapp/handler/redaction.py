"""Redaction (Directive 2019/1937 Art. 16-17): a page that shows every text and file of a case
and takes out the exact passage a handler copies into the form, or a whole file; the case page
lists the redactions and purges the originals a redaction kept. Works without JavaScript."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from appliance.cases.read_models import HandlerCaseView
from appliance.errors import Conflict, InvalidInput
from webapp.handler import confirmations
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import PostForm, RedactionForm
from webapp.handler.views import render_case
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()

FIELD_LABELS = {"what": _l("What happened?"), "when": _l("When did it happen?"), "where": _l("Where did it happen?"),
                "people": _l("Who is involved?"), "contact": _l("Reporter's e-mail")}
KEEP_CHOICES = (("retain", _l("Keep the original sealed to this case (legal hold); it can be purged later")),
                ("purge", _l("Destroy the original now (cannot be undone)")))


def _choices(view: HandlerCaseView) -> list[tuple[str, str]]:
    choices = [("", _("Choose…"))]
    choices += [(f"report:{name}", _("The report: %(field)s", field=label))
                for name, label in FIELD_LABELS.items() if getattr(view.report, name)]
    for number, message in enumerate(view.thread, start=1):
        if message.author != "system" and message.body:
            choices.append((f"message:{message.id}", _("Message %(n)s", n=number)))
    choices += [(f"note:{note.id}", _("Note %(n)s", n=number)) for number, note in enumerate(view.notes, start=1)]
    files = list(view.report_attachments) + [a for m in view.thread for a in m.attachments]
    choices += [(f"attachment:{a.id}", _("File: %(name)s", name=a.filename)) for a in files]
    return choices


def _form(view: HandlerCaseView, formdata: bool) -> RedactionForm:
    form = RedactionForm() if formdata else RedactionForm(formdata=None)
    form.target.choices = _choices(view)
    form.keep.choices = [(value, str(label)) for value, label in KEEP_CHOICES]
    return form


def _page(view: HandlerCaseView, form: RedactionForm, status: int = 200) -> tuple[str, int]:
    return render_template("handler/redact.html", case=view, form=form, field_labels=FIELD_LABELS), status


@routes.get("/cases/<uuid:case_id>/redact")
@access("staff:handler")
def redact_page(case_id: uuid.UUID) -> tuple[str, int]:
    view = HandlerDesk.of_request().cases.open_case(g.principal, case_id)
    return _page(view, _form(view, formdata=False))


@routes.post("/cases/<uuid:case_id>/redact")
@access("staff:handler")
def redact(case_id: uuid.UUID) -> Response | tuple[str, int]:
    """Take out the passage (every occurrence, in the chosen text) or the file; CSRF by CSRFProtect."""
    desk = HandlerDesk.of_request()
    view = desk.cases.open_case(g.principal, case_id)
    form = _form(view, formdata=True)
    if form.validate_on_submit():
        kind, _sep, ref = (form.target.data or "").partition(":")
        purge = form.keep.data == "purge"
        try:
            with desk.attempt():
                if kind == "attachment":
                    try:
                        attachment_id = uuid.UUID(ref)
                    except ValueError:
                        raise InvalidInput("target", "choose a text or a file") from None
                    desk.redactions.redact_attachment(g.principal, case_id, attachment_id, form.reason.data or "",
                                                      purge=purge)
                else:
                    desk.redactions.redact_text(g.principal, case_id, kind, ref, form.passage.data or "",
                                                form.reason.data or "", purge=purge)
        except InvalidInput as exc:
            _error(form, exc.field)
        else:
            return confirmations.done(case_id, "redacted")
    return _page(view, form, 400)


@routes.post("/cases/<uuid:case_id>/redactions/<uuid:redaction_id>/purge")
@access("staff:handler")
def purge_redaction(case_id: uuid.UUID, redaction_id: uuid.UUID) -> Response | tuple[str, int]:
    """Destroy what a redaction kept (CSRF was checked by CSRFProtect); a second purge is a 409."""
    if not PostForm().validate_on_submit():
        return redirect(url_for("handler.case", case_id=case_id, _anchor="redactions"), code=303)
    desk = HandlerDesk.of_request()
    try:
        with desk.attempt():
            desk.redactions.purge(g.principal, case_id, redaction_id)
    except Conflict:
        return render_case(case_id, redaction_error=_("That original was already destroyed.")), 409
    return confirmations.done(case_id, "purged")


def _error(form: RedactionForm, field: str) -> None:
    if field == "passage":
        form.passage.errors = [_("Copy a passage exactly as it appears in the chosen text.")]
    elif field == "reason":
        form.reason.errors = [_("Give the reason (at most 2,000 characters).")]
    else:
        form.target.errors = [_("Choose a text or a file of this case.")]
