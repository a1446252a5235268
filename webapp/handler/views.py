"""The handler app /staff/: case pages (the work queue is in queue.py, sign-in in auth.py, the blueprint in __init__.py)."""

from __future__ import annotations

import uuid

from flask import abort, g, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.cases.metadata_removal import MetadataNotRemovable, supports
from appliance.cases.workflow import CLOSING_OUTCOMES, Status, next_statuses
from appliance.errors import AuthenticationFailed, InvalidInput
from appliance.tenants.models import Tenant
from webapp.handler import confirmations
from webapp.handler.desk import AccountDesk, HandlerDesk
from webapp.handler.forms import (
    GROUND_LABELS,
    ROLE_LABELS,
    STATE_LABELS,
    AssignForm,
    ConsentRequestForm,
    DisclosureForm,
    ExportForm,
    GrantAccessForm,
    MessageForm,
    NoteForm,
    PasswordChangeForm,
    PersonForm,
    PostForm,
    StatusForm,
)
from webapp.handler.forms import disclosure_form as new_disclosure_form
from webapp.handler.forms import person_form as new_person_form
from webapp.handler.oral import channel_label
from webapp.handler.triage_form import TriageForm
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import OUTCOME_LABELS, STATUS_LABELS, category_label
from webapp.uploads import download_response, uploads_from

routes = RouteTable()


@routes.get("/cases/<uuid:case_id>")
@access("staff:handler")
def case(case_id: uuid.UUID) -> str:
    return render_case(case_id, confirmed=confirmations.shown(request.args))


@routes.post("/cases/<uuid:case_id>/status")
@access("staff:handler")
def change_status(case_id: uuid.UUID) -> Response | tuple[str, int]:
    form = _status_form(Status.RECEIVED)
    form.status.choices = [(s.value, STATUS_LABELS[s.value]) for s in Status]
    if not form.validate_on_submit():  # a made-up status or outcome, or conclusions over the limit
        error = (_("The conclusions are too long (at most 20,000 characters).") if "conclusions" in form.errors
                 else _status_error(InvalidInput(next(iter(form.errors), "status"), "invalid")))
        return render_case(case_id, status_form_error=error), 400
    desk = HandlerDesk.of_request()
    try:
        with desk.attempt():
            desk.cases.change_status(g.principal, case_id, form.status.data or "", form.outcome.data or "",
                                     form.conclusions.data or "")
    except InvalidInput as exc:
        return render_case(case_id, status_form_error=_status_error(exc)), 400
    return confirmations.done(case_id, "status")


@routes.post("/cases/<uuid:case_id>/assign")
@access("staff:handler")
def assign(case_id: uuid.UUID) -> Response | tuple[str, int]:
    raw = request.form.get("assignee", "")  # CSRF was checked by CSRFProtect before the view
    try:
        assignee = uuid.UUID(raw) if raw else None
    except ValueError:
        abort(400)
    desk = HandlerDesk.of_request()
    try:
        with desk.attempt():
            desk.cases.assign(g.principal, case_id, assignee)
    except InvalidInput:
        return render_case(case_id, assign_error=_("Choose a handler of this organisation.")), 400
    return confirmations.done(case_id, "assigned")


@routes.post("/cases/<uuid:case_id>/messages")
@access("staff:handler")
def post_message(case_id: uuid.UUID) -> Response | tuple[str, int]:
    form = MessageForm()
    if form.validate_on_submit():
        desk = HandlerDesk.of_request()
        try:
            with desk.attempt():
                desk.cases.post_message(g.principal, case_id, form.body.data or "", uploads_from("attachments"),
                                        is_feedback=bool(form.is_feedback.data))
        except InvalidInput:
            form.body.errors = [_("Write a message or attach a file (at most 20,000 characters).")]
        else:
            return confirmations.done(case_id, "feedback" if form.is_feedback.data else "message")
    return render_case(case_id, message_form=form), 400


@routes.post("/cases/<uuid:case_id>/notes")
@access("staff:handler")
def add_note(case_id: uuid.UUID) -> Response | tuple[str, int]:
    form = NoteForm()
    if form.validate_on_submit():
        HandlerDesk.of_request().cases.add_note(g.principal, case_id, form.body.data or "")
        return confirmations.done(case_id, "note")
    return render_case(case_id, note_form=form), 400


@routes.get("/cases/<uuid:case_id>/attachments/<uuid:attachment_id>")
@access("staff:handler")
def download(case_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    result = HandlerDesk.of_request().cases.download(g.principal, case_id, attachment_id)
    return download_response(result)


@routes.get("/cases/<uuid:case_id>/attachments/<uuid:attachment_id>/cleaned")
@access("staff:handler")
def download_cleaned(case_id: uuid.UUID, attachment_id: uuid.UUID) -> Response | tuple[str, int]:
    """The file without metadata (mat2), made for this download; the original stays as it was."""
    try:
        result = HandlerDesk.of_request().cases.download_cleaned(g.principal, case_id, attachment_id)
    except MetadataNotRemovable as exc:
        return render_template("handler/not_cleaned.html", case_id=case_id, attachment_id=attachment_id,
                               reason=exc.reason, logout=PostForm()), 503 if exc.reason == "unavailable" else 422
    return download_response(result)


@routes.route("/account", methods=["GET", "POST"])
@access("staff")
def account() -> str | tuple[str, int]:
    desk = AccountDesk.of_request()
    form = PasswordChangeForm()
    done = False
    if form.validate_on_submit():
        try:
            desk.users.change_password(g.principal.user_id, form.current.data or "", form.new.data or "",
                                       g.principal.actor, keep_session=g.staff_session.id)
        except AuthenticationFailed:  # the view's own 400 commits: the failure count and logbook entry stay
            form.current.errors = [_("The current password is wrong.")]
        except InvalidInput as exc:
            form.new.errors = [_("Choose a longer, less repetitive password.") if exc.field == "password" else str(exc)]
        else:
            done = True
    remaining = desk.users.remaining_recovery_codes(g.principal.user_id)
    status = 400 if form.errors else 200
    return render_template("handler/account.html", form=form, done=done, remaining=remaining,
                           email=desk.users.email_of(g.user), keys_reset_at=g.user.keys_reset_at), status


# --- helpers ---------------------------------------------------------------------------
def render_case(case_id: uuid.UUID, *, message_form: MessageForm | None = None, note_form: NoteForm | None = None,
                status_form_error: str | None = None, assign_error: str | None = None,
                access_error: str | None = None, person_form: PersonForm | None = None,
                consent_form: ConsentRequestForm | None = None, disclosure_form: DisclosureForm | None = None,
                redaction_error: str | None = None, triage_form: TriageForm | None = None,
                confirmed: confirmations.Confirmation | None = None) -> str:
    """The case page; raises CaseLocked (answered by the locked page) when no key of the user opens it."""
    desk = HandlerDesk.of_request()
    view = desk.cases.open_case(g.principal, case_id)
    tenant = desk.tenant_by_id(view.tenant_id)
    categories = {c.id: category_label(c.label) for c in desk.all_categories(tenant.id)}
    handlers = desk.users.handlers_of(tenant.id)
    emails = {u.id: u.email for u in desk.users.users_in(frozenset({tenant.id}))}
    holders = sorted(desk.cases.holders(g.principal, case_id), key=lambda h: emails.get(h.user_id, ""))
    subjects = desk.case_subjects.list(g.principal, case_id)
    readers = desk.readers.confirmed_user_ids(tenant.id)
    reporter_copy_pending = desk.cases.reporter_copy_pending(g.principal, case_id)
    oral = desk.oral_reports.for_handler(g.principal, case_id)
    consents = desk.identity_consents.for_handler(g.principal, case_id)
    redactions = desk.redactions.for_handler(g.principal, case_id)
    status_form = _status_form(Status(view.status), acknowledged=view.acknowledged_at is not None)
    assign_form = AssignForm()
    assign_form.assignee.choices = [("", _("Nobody"))] + [(str(h.id), h.email) for h in handlers]
    assign_form.assignee.data = str(view.assignee_id) if view.assignee_id else ""
    current = {h.user_id for h in holders if h.current}
    grant_form = GrantAccessForm(formdata=None)
    grant_form.user.choices = [("", _("Choose…"))] + [(str(h.id), h.email) for h in handlers
                                                      if h.id not in current and h.id in readers]
    return render_template(
        "handler/case.html", case=view, tenant=tenant,
        category=categories.get(view.category_id, "—") if view.category_id else "—",
        emails=emails, status_form=status_form, status_form_error=status_form_error, assign_form=assign_form,
        assign_error=assign_error, message_form=message_form or MessageForm(formdata=None),
        note_form=note_form or NoteForm(formdata=None), logout=PostForm(), holders=holders,
        grant_form=grant_form, access_error=access_error, post=PostForm(formdata=None), subjects=subjects,
        person_form=person_form or new_person_form(formdata=False), role_labels=ROLE_LABELS,
        reporter_copy_pending=reporter_copy_pending, oral=oral, channel_label=channel_label,
        export_form=ExportForm(formdata=None), cleanable=supports, consents=consents, redactions=redactions,
        consent_form=consent_form or ConsentRequestForm(formdata=None),
        disclosure_form=disclosure_form or new_disclosure_form(consents), redaction_error=redaction_error,
        state_labels=STATE_LABELS, ground_labels=GROUND_LABELS, confirmed=confirmed,
        triage_form=triage_form or TriageForm(formdata=None),
    )


def _status_form(current: Status, *, acknowledged: bool = True) -> StatusForm:
    form = StatusForm()
    form.status.choices = [(s.value, STATUS_LABELS[s.value])
                           for s in sorted(next_statuses(current, acknowledged=acknowledged), key=list(Status).index)]
    form.outcome.choices = [("", _("Choose…"))] + [(o.value, OUTCOME_LABELS[o.value]) for o in CLOSING_OUTCOMES]
    return form


def _status_error(exc: InvalidInput) -> str:
    if exc.field == "outcome":
        return _("Choose an outcome to close the case.")
    if exc.field == "conclusions":
        return _("Write the conclusions to close the case.")
    return _("That status change is not possible from the current status.")


def _emails(desk: HandlerDesk, tenants: list[Tenant]) -> dict[uuid.UUID, str]:
    return {u.id: u.email for u in desk.users.users_in(frozenset(t.id for t in tenants))}

