"""The reporter portal /r/<slug>/: the portal page and the follow-up conversation (filing a
report and its receipt: filing.py).

Nothing here stores the reporter's address or user agent: the address reaches only the
host's ephemeral store (rate limits, the case-key lockout), as an HMAC under a key of the day.
The only cookies are the CSRF cookie, the receipt's (for the minutes between a stored report
and its receipt page, filing.py) and, after a case key was entered, a short-lived session
cookie.
"""

from __future__ import annotations

import uuid

from flask import g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    LockedOut,
    NotFound,
    RateLimited,
)
from appliance.tenants.models import Tenant
from webapp.policy import access
from webapp.reporter.desk import desk
from webapp.reporter.forms import (
    ApproveRecordForm,
    ConsentAnswerForm,
    CorrectRecordForm,
    FollowUpForm,
    NotifyForm,
    ReplyForm,
    SignOutForm,
)
from webapp.requestctx import app_context
from webapp.routes import RouteTable
from webapp.security import clear_session_cookie, client_address, cookie_name, set_session_cookie
from webapp.unit_of_work import reads_only
from webapp.uploads import download_response, uploads_from

routes = RouteTable()


@routes.get("/")
@access("reporter")
@reads_only
def portal(slug: str) -> str:
    """The portal; with several open channels it lists them (each with its intro text), with
    one it leads straight to the form."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    channels = reporter.reporting.channels(tenant)
    listed = [(c, reporter.reporting.accepting(tenant, c)) for c in channels] if len(channels) > 1 else []
    accepting = reporter.reporting.accepting(tenant)
    return render_template("reporter/portal.html", tenant=tenant, accepting=accepting, channels=listed)


@routes.route("/follow-up", methods=["GET", "POST"])
@access("reporter")
@reads_only
def follow_up(slug: str) -> Response | tuple[str, int] | str:
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = FollowUpForm()
    if form.validate_on_submit():
        try:
            opened = reporter.reporting.open_with_key(tenant, form.case_key.data or "", client_address())
        except AuthenticationFailed:  # the view's own 400 commits: the failure count stays
            form.case_key.errors = [_("This case key was not recognised. Check it and try again.")]
        else:
            token = reporter.start_session(opened.case_id, opened.private_key)
            response = redirect(url_for("reporter.case", slug=slug), code=303)
            set_session_cookie(response, app_context().settings, "reporter", token)
            return response
        return _render_follow_up(tenant, form), 400
    return _render_follow_up(tenant, form)


def _render_follow_up(tenant: Tenant, form: FollowUpForm) -> str:
    """The key form, warning before the attempt after which wrong keys are paused (or that they are)."""
    attempts = desk().reporting.key_attempts(tenant, client_address())
    return render_template("reporter/follow_up.html", tenant=tenant, form=form,
                           paused_minutes=minutes(attempts.paused_seconds) if attempts.paused_seconds else None,
                           last_attempt_minutes=(minutes(attempts.pause_after_next)
                                                 if attempts.pause_after_next is not None else None))


@routes.get("/case")
@access("reporter-session")
def case(slug: str) -> str:
    return _render_case(slug, form=ReplyForm())


@routes.post("/case/reply")
@access("reporter-session")
def reply(slug: str) -> Response | tuple[str, int]:
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            with reporter.attempt():
                reporter.reporting.reply(tenant, g.reporter_case_id, g.reporter_key, form.body.data or "",
                                         uploads_from("attachments"))
        except InvalidInput as exc:
            form.body.errors = [field_error(exc)]
        else:
            return redirect(url_for("reporter.case", slug=slug, _anchor="latest"), code=303)
    # Nothing of a refused message is kept, its files neither: say so next to the file field.
    dropped = sum(1 for upload in request.files.getlist("attachments") if upload.filename)
    return _render_case(slug, form=form, dropped_files=dropped), 400


@routes.post("/case/notify")
@access("reporter-session")
def notify(slug: str) -> Response | tuple[str, int]:
    """Save, replace or remove the address for "a new message is waiting" mails. The answer is
    the same whether an address was stored before or not, and the address is never shown."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = NotifyForm()
    if form.validate_on_submit():
        removing = bool(form.remove.data)
        try:
            with reporter.attempt():
                reporter.reporting.set_notification_address(
                    tenant, g.reporter_case_id, "" if removing else form.address.data or "")
        except InvalidInput as exc:
            form.address.errors = [field_error(exc)]
        else:
            done = "removed" if removing or not (form.address.data or "").strip() else "saved"
            return redirect(url_for("reporter.case", slug=slug, notify=done, _anchor="notices"), code=303)
    return _render_case(slug, notify_form=form), 400


@routes.post("/case/record/approve")
@access("reporter-session")
def approve_record(slug: str) -> Response | tuple[str, int]:
    """The reporter agrees with the record of their oral report (Directive 2019/1937 Art. 18)."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    if ApproveRecordForm().validate_on_submit():
        try:
            with reporter.attempt():
                reporter.oral_reports.approve(tenant, g.reporter_case_id, g.reporter_key)
        except Conflict:
            return _render_case(slug, review_error=_("You have already approved this record.")), 409
    return redirect(url_for("reporter.case", slug=slug, _anchor="record"), code=303)


@routes.post("/case/record/correct")
@access("reporter-session")
def correct_record(slug: str) -> Response | tuple[str, int]:
    """The reporter's corrections of the record, sealed to the case and shown to its handlers."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = CorrectRecordForm()
    if form.validate_on_submit():
        try:
            with reporter.attempt():
                reporter.oral_reports.correct(tenant, g.reporter_case_id, g.reporter_key, form.correction.data or "")
        except InvalidInput:
            form.correction.errors = [_("Write your corrections (at most 20,000 characters).")]
        except Conflict:
            return _render_case(slug, correction_form=form, review_error=_(
                "This record was already approved or corrected. Write a message below to add anything.")), 409
        else:
            return redirect(url_for("reporter.case", slug=slug, _anchor="record"), code=303)
    return _render_case(slug, correction_form=form), 400


@routes.post("/case/consent/<uuid:request_id>")
@access("reporter-session")
def answer_consent(slug: str, request_id: uuid.UUID) -> Response | tuple[str, int]:
    """The reporter's answer to a request for consent to disclose their identity: once; a
    replayed or second answer is refused (409). A request of another case is a 404."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    answer = request.form.get("answer", "")
    if ConsentAnswerForm().validate_on_submit():
        if answer not in ("given", "refused"):
            return _render_case(slug, consent_error=_("Choose yes or no.")), 400
        try:
            with reporter.attempt():
                reporter.identity_consents.answer(tenant, g.reporter_case_id, g.reporter_key, request_id,
                                                  answer == "given")
        except Conflict:
            return _render_case(slug, consent_error=_("You have already answered this request.")), 409
    return redirect(url_for("reporter.case", slug=slug, _anchor="identity"), code=303)


def _render_case(slug: str, *, form: ReplyForm | None = None, correction_form: CorrectRecordForm | None = None,
                 review_error: str | None = None, notify_form: NotifyForm | None = None,
                 consent_error: str | None = None, dropped_files: int = 0) -> str:
    reporter = desk()
    tenant = reporter.tenant(slug)
    view = reporter.reporting.view(tenant, g.reporter_case_id, g.reporter_key)
    record = reporter.oral_reports.for_reporter(tenant, g.reporter_case_id, g.reporter_key)
    consents = reporter.identity_consents.for_reporter(tenant, g.reporter_case_id, g.reporter_key)
    return render_template("reporter/case.html", tenant=tenant, case=view, form=form or ReplyForm(formdata=None),
                           sign_out=SignOutForm(), record=record, approve_form=ApproveRecordForm(),
                           correction_form=correction_form or CorrectRecordForm(formdata=None),
                           review_error=review_error, channel_phrase=_channel_phrase,
                           notify_form=notify_form or NotifyForm(formdata=None),
                           notify_done=request.args.get("notify") if request.args.get("notify") in ("saved", "removed")
                           else None, consents=consents,
                           consent_form=ConsentAnswerForm(), consent_error=consent_error, dropped_files=dropped_files)


def _channel_phrase(channel: str) -> str:
    return {"phone": _("by phone"), "meeting": _("in a meeting")}.get(channel, _("orally"))


@routes.get("/case/attachments/<uuid:attachment_id>")
@access("reporter-session")
def download(slug: str, attachment_id: uuid.UUID) -> Response:
    reporter = desk()
    # While the reporter's key copy is pending (a migrated case) this is a 404: nothing to open yet.
    result = reporter.reporting.download(reporter.tenant(slug), g.reporter_case_id, g.reporter_key, attachment_id)
    return download_response(result)


@routes.post("/case/sign-out")
@access("reporter-session")
def sign_out(slug: str) -> Response:
    reporter = desk()
    if SignOutForm().validate_on_submit():
        reporter.end_session(request.cookies.get(cookie_name(app_context().settings, "reporter")))
    response = make_response(redirect(url_for("reporter.signed_out", slug=slug), code=303))
    clear_session_cookie(response, app_context().settings, "reporter")
    return response


@routes.get("/signed-out")
@access("reporter")
def signed_out(slug: str) -> str:
    """Where signing out ends: the session is closed, what to do on a shared device, and the
    address to come back to (the case key is needed again)."""
    return render_template("reporter/signed_out.html", tenant=desk().tenant(slug))


@routes.errorhandler(RateLimited)
def _rate_limited(exc: RateLimited) -> ResponseReturnValue:
    return _refused(_("Too many reports right now"), _(
        "This channel has received too many reports from your connection, or from everyone, in a short "
        "time. Nothing you sent was read or stored. Please try again in %(minutes)s minute(s).",
        minutes=minutes(exc.retry_after_seconds)), exc.retry_after_seconds)


@routes.errorhandler(LockedOut)
def _locked_out(exc: LockedOut) -> ResponseReturnValue:
    return _refused(_("Too many attempts"), _(
        "For your protection, further attempts are paused. Try again in %(minutes)s minute(s).",
        minutes=minutes(exc.retry_after_seconds)), exc.retry_after_seconds)


def _refused(title: str, message: str, retry_after: int) -> ResponseReturnValue:
    """429 in the organisation's reporter frame (the generic page when the slug names none)."""
    desk().rollback_now()  # read the tenant without whatever the refused request wrote
    tenant: Tenant | None
    try:
        tenant = desk().tenant((request.view_args or {}).get("slug", ""))
    except NotFound:
        tenant = None
    headers = {"Retry-After": str(retry_after)}
    if tenant is None:
        return render_template("error.html", status=429, title=title, message=message), 429, headers
    return render_template("reporter/refused.html", tenant=tenant, title=title, message=message), 429, headers


def minutes(seconds: int) -> int:
    return max(1, (seconds + 59) // 60)


def field_error(exc: InvalidInput) -> str:
    messages = {
        "what": _("Please describe what happened (at most 20,000 characters)."),
        "category": _("Please choose what the report is about."),
        "contact": _("This does not look like an e-mail address. Leave it empty if you do not want to give one."),
        "notify": _("This does not look like an e-mail address. Leave it empty to get no notices."),
        "message": _("Write a message or add a file (at most 20,000 characters)."),
    }
    return messages.get(exc.field, _("Please check this field."))
