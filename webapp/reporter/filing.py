"""Filing a report: the form, and the receipt that shows the case key once (post/redirect/get).

A stored report answers with a redirect (303) to ``/receipt``; the case key waits for it in
the database, sealed under the token of a short-lived cookie limited to that path
(appliance/cases/receipts.py), never in a URL, a log or the logbook. The receipt page shows
the key and wipes it: a reload or Back finds no key and never files anything. Every rendered
form carries a reference (hidden field ``form_ref``), so a second post of the same form (a
double click, Back and send again) files nothing: it is sent to the receipt while the key
was not shown yet, and told that the report was already received once it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.cases.receipts import SHOW_WITHIN, FormAlreadySent, FormState
from appliance.cases.reporting import NewReport
from appliance.ephemeral.store import Ticket
from appliance.errors import ChannelNotReady, InvalidInput, NotFound
from appliance.tenants.models import ReportingChannel, Tenant
from appliance.tenants.questionnaire import Question
from webapp.policy import access
from webapp.reporter.desk import ReporterDesk, desk
from webapp.reporter.forms import ReportForm
from webapp.reporter.questions import answer_error, posted_answers, question_views
from webapp.reporter.views import field_error, minutes
from webapp.requestctx import app_context
from webapp.routes import RouteTable
from webapp.security import clear_receipt_cookie, client_address, receipt_cookie_name, set_receipt_cookie
from webapp.templating import category_label
from webapp.unit_of_work import reads_only, unit_of_work
from webapp.uploads import uploads_from

routes = RouteTable()


def _requested_channel() -> uuid.UUID | None:
    """The channel a report link names (``?channel=``); a malformed id is as unknown as any other."""
    raw = request.args.get("channel", "")
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("channel", raw[:40]) from None


def admit_report_before_reading() -> None:
    """Registered on the app before CSRF protection, which reads the whole form: a report post
    over this client's or this channel's limit is refused (RateLimited, 429) before any of its
    uploads is read or spooled. The slots taken are on ``g`` for the view."""
    if request.endpoint != "reporter.report" or request.method != "POST":
        return
    reporter = desk()
    tenant = reporter.tenant((request.view_args or {}).get("slug", ""))
    try:
        g.report_admission = reporter.reporting.admit_report(tenant, client_address())
    finally:
        unit_of_work().commit_now()  # no transaction stays open (SQLite: no write lock) while the upload streams


@dataclass
class _Page:
    """What the report form page needs besides the form."""

    tenant: Tenant
    channel: ReportingChannel
    questions: tuple[Question, ...]


@routes.route("/report", methods=["GET", "POST"])
@access("reporter")
@reads_only
def report(slug: str) -> Response | str | tuple[str, int]:
    reporter = desk()
    tenant = reporter.tenant(slug)
    admission: Ticket | None = g.pop("report_admission", None)
    stored = False
    try:
        channel = reporter.reporting.channel(tenant, _requested_channel())
        page = _Page(tenant, channel, reporter.reporting.questions(channel))
        form = ReportForm()
        form.category.choices = [("", _("Choose…"))] + [(str(c.id), category_label(c.label))
                                                         for c in reporter.reporting.categories(channel)]
        if not reporter.reporting.accepting(tenant, channel):
            # Nobody could ever read a report filed now: say so before anything is written (or, on a
            # POST, keep what was written in the form so the reporter can copy it; nothing is stored).
            return _render(page, form, not_ready=True), 503
        if request.method != "POST":
            form.form_ref.data = reporter.receipts.new_form(tenant.id)
            # Say it before the reporter writes anything, rather than after (a refused post is not read).
            wait = reporter.reporting.report_wait_seconds(tenant, client_address())
            return _render(page, form, wait_minutes=minutes(wait) if wait else None)
        try:
            sent = reporter.receipts.check_form(tenant.id, form.form_ref.data or "")
        except InvalidInput:
            form.form_ref.data = reporter.receipts.new_form(tenant.id)
            form.validate()  # the fields' own errors are shown too, so one more try is enough
            return _render(page, form, form_expired=True), 400
        seen = _already_sent(reporter, slug, sent.token, reporter.receipts.state(sent))
        if seen is not None:
            return seen
        question_errors: dict[str, str] = {}
        if form.validate_on_submit():
            answers, answer_files = posted_answers(page.questions)
            try:
                with reporter.attempt():
                    claim = reporter.receipts.claim(sent)  # a second post of this form waits here
                    receipt = reporter.reporting.submit(tenant, NewReport(
                        category_id=uuid.UUID(form.category.data), what=form.what.data or "",
                        when=form.when.data or "", where=form.where.data or "", people=form.people.data or "",
                        contact=form.contact.data or "", notify=form.notify.data or "",
                        reporting_channel_id=channel.id, answers=answers,
                    ), uploads_from("attachments") + answer_files)
                    token = reporter.receipts.hold(claim, tenant.id, receipt.case_key)
            except FormAlreadySent:  # stored meanwhile by the request of the first click
                seen = _already_sent(reporter, slug, sent.token, reporter.receipts.state(sent))
                if seen is not None:
                    return seen
            except InvalidInput as exc:
                if exc.field.startswith("q_"):
                    question_errors[exc.field] = answer_error(exc)
                else:
                    getattr(form, exc.field, form.what).errors = [field_error(exc)]
            except ChannelNotReady:
                return _render(page, form, not_ready=True), 503
            else:
                stored = g.report_stored = True  # counted by webapp/metrics.py (a repeat is not)
                return _to_receipt(slug, token)
        return _render(page, form, question_errors=question_errors), 400
    finally:
        if admission is not None and not stored:  # a form error, a file too large, no recipient, a repeat
            reporter.reporting.return_admission(admission)


def _already_sent(reporter: ReporterDesk, slug: str, token: str, state: FormState) -> Response | tuple[str, int] | None:
    """A repeat of a form whose report was stored: on to its receipt while the key waits there
    (a double click shows the second answer only), else the page saying it was received."""
    if state is FormState.WAITING:
        return _to_receipt(slug, token)
    if state is FormState.RECEIVED:
        return render_template("reporter/already_received.html", tenant=reporter.tenant(slug)), 409
    return None


def _to_receipt(slug: str, token: str) -> Response:
    response = redirect(url_for("reporter.receipt", slug=slug), code=303)
    set_receipt_cookie(response, app_context().settings, url_for("reporter.receipt", slug=slug), token,
                       int(SHOW_WITHIN.total_seconds()))
    return response


def _render(page: _Page, form: ReportForm, *, question_errors: dict[str, str] | None = None,
            **flags: object) -> str:
    """The form; after a post, each file field says how many of the files chosen were not kept."""
    dropped = _files_sent(page.questions) if request.method == "POST" else {}
    return render_template("reporter/report.html", tenant=page.tenant, form=form, channel=page.channel,
                           questions=question_views(page.questions, question_errors, dropped),
                           dropped=dropped, dropped_total=sum(dropped.values()), **flags)


def _files_sent(questions: tuple[Question, ...]) -> dict[str, int]:
    """How many files the refused post carried, per file input (none kept: they must be chosen again)."""
    names = ["attachments"] + [f"q_{q.key}" for q in questions if q.kind == "file"]
    counts = {name: sum(1 for f in request.files.getlist(name) if f.filename) for name in names}
    return {name: count for name, count in counts.items() if count}


@routes.get("/receipt")
@access("reporter")
def receipt(slug: str) -> Response:
    """The case key of the report just stored, once. The cookie that held the token goes too."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    settings = app_context().settings
    if request.method == "HEAD":  # a probe, not the reporter's browser: the key waits for its GET
        return make_response("", 200)
    case_key = reporter.receipts.show(tenant.id, request.cookies.get(receipt_cookie_name(settings)))
    if case_key is None:
        page = render_template("reporter/receipt_gone.html", tenant=tenant)
    else:
        page = render_template("reporter/receipt.html", tenant=tenant, case_key=case_key.display)
    response = make_response(page)
    clear_receipt_cookie(response, settings, url_for("reporter.receipt", slug=slug))
    return response
