"""Administration: the organisation's reporting channels (name, intro text, categories, open or
closed), who reads each channel's reports (a proposal a reader confirms, as for the reader list)
and the portal's text on reporting to the authorities (Directive Art. 9(1)(g)).

Routes on the admin blueprint (webapp/admin/__init__.py registers them).
"""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import Conflict, InvalidInput
from appliance.tenants.models import ReportingChannel, Tenant
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import (
    ChannelForm,
    ChannelReadersForm,
    ExternalInfoForm,
    PostForm,
    QuestionForm,
    checked_ids,
    question_form,
)
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import category_label

routes = RouteTable()


@routes.route("/t/<slug>/channels", methods=["GET", "POST"])
@access("staff:admin")
def channels(slug: str) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = _channel_form(desk, tenant)
    if form.validate_on_submit():
        try:
            with desk.attempt():
                channel = desk.channels.create(tenant.id, form.name.data or "", form.intro.data or "",
                                               checked_ids(form.categories.data), g.principal.actor)
        except (InvalidInput, Conflict) as exc:
            _form_error(form, exc)
        else:
            return redirect(url_for("admin.channel", slug=slug, channel_id=channel.id), code=303)
    rows = desk.channels.channels(tenant.id, include_inactive=True)
    return render_template("admin/channels.html", tenant=tenant, rows=rows, form=form,
                           toggle=PostForm()), 400 if form.errors else 200


@routes.route("/t/<slug>/channels/<uuid:channel_id>", methods=["GET", "POST"])
@access("staff:admin")
def channel(slug: str, channel_id: uuid.UUID) -> Response | tuple[str, int]:
    """Rename a channel, change its intro text and categories."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    row = desk.channels.channel(tenant.id, channel_id)
    form = _channel_form(desk, tenant, row)
    if form.validate_on_submit():
        try:
            with desk.attempt():
                desk.channels.update(tenant.id, row.id, form.name.data or "", form.intro.data or "",
                                     checked_ids(form.categories.data), g.principal.actor)
        except (InvalidInput, Conflict) as exc:
            _form_error(form, exc)
        else:
            return redirect(url_for("admin.channel", slug=slug, channel_id=row.id, saved=1), code=303)
    return render_channel(desk, tenant, row, form), 400 if form.errors else 200


@routes.post("/t/<slug>/channels/<uuid:channel_id>/readers")
@access("staff:admin")
def channel_readers(slug: str, channel_id: uuid.UUID) -> Response | tuple[str, int]:
    """Propose who reads this channel's reports; a reader confirms it on their Readers page."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    row = desk.channels.channel(tenant.id, channel_id)
    form = ChannelReadersForm()
    members = checked_ids(form.members.data)
    error = None
    try:
        with desk.attempt():
            desk.readers.propose_channel(tenant.id, row.id, members, g.principal.actor, "web")
    except InvalidInput:
        error = _("Choose at least one reader; every reader of a channel must be on the organisation's reader "
                  "list.")
    except Conflict:
        error = _("This channel already has exactly these readers, or the reader list is not started yet.")
    if error:
        return render_channel(desk, tenant, row, readers_error=error), 400
    return redirect(url_for("admin.readers", slug=slug, _anchor="pending"), code=303)


@routes.post("/t/<slug>/channels/<uuid:channel_id>/toggle")
@access("staff:admin")
def toggle_channel(slug: str, channel_id: uuid.UUID) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    row = desk.channels.channel(tenant.id, channel_id)
    try:
        with desk.attempt():
            desk.channels.set_active(tenant.id, row.id, not row.active, g.principal.actor)
    except Conflict:
        return render_template("admin/channels.html", tenant=tenant, form=_channel_form(desk, tenant, empty=True),
                               rows=desk.channels.channels(tenant.id, include_inactive=True), toggle=PostForm(),
                               error=_("The default channel stays open.")), 400
    return redirect(url_for("admin.channels", slug=slug), code=303)


@routes.route("/t/<slug>/external-reporting", methods=["GET", "POST"])
@access("staff:admin")
def external_reporting(slug: str) -> Response | tuple[str, int]:
    """The portal's text on reporting to the competent authorities (Art. 9(1)(g))."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = ExternalInfoForm() if _posted() else ExternalInfoForm(formdata=None,
                                                                    text=tenant.external_reporting_info or "")
    if form.validate_on_submit():
        try:
            with desk.attempt():
                desk.channels.set_external_info(tenant.id, form.text.data or "", g.principal.actor)
        except InvalidInput:
            form.text.errors = [_("This text is too long or contains a character that is not allowed.")]
        else:
            return redirect(url_for("admin.external_reporting", slug=slug, saved=1), code=303)
    return render_template("admin/external_reporting.html", tenant=tenant, form=form), 400 if form.errors else 200


def _posted() -> bool:
    return request.method == "POST"


def _channel_form(desk: AdminDesk, tenant: Tenant, row: ReportingChannel | None = None,
                  empty: bool = False) -> ChannelForm:
    if row is not None and (empty or not _posted()):
        form = ChannelForm(formdata=None, name=row.name, intro=row.intro or "",
                           categories=[str(c) for c in desk.channels.category_ids(row)])
    else:
        form = ChannelForm(formdata=None) if empty else ChannelForm()
    form.categories.choices = [(str(c.id), category_label(c.label)) for c in desk.tenants.categories(tenant.id)]
    return form


def _form_error(form: ChannelForm, exc: InvalidInput | Conflict) -> None:
    if isinstance(exc, Conflict):
        form.name.errors = [_("A channel with this name already exists.")]
    elif exc.field == "categories":
        form.categories.errors = [_("Choose categories of this organisation.")]
    else:
        field = form.intro if exc.field == "intro" else form.name
        field.errors = [_("This text is too long or contains a character that is not allowed.")]


def render_channel(desk: AdminDesk, tenant: Tenant, row: ReportingChannel, form: ChannelForm | None = None,
                   readers_error: str | None = None, questions_form: QuestionForm | None = None,
                   question_error: str | None = None) -> str:
    """The channel's page: its texts and categories, its readers, its questionnaire."""
    form = form or _channel_form(desk, tenant, row, empty=True)
    found = desk.reader_overview(tenant.id)
    members = desk.readers.channel_members(tenant.id, row.id)
    readers_form = ChannelReadersForm(formdata=None, members=[str(m) for m in members or ()])
    readers_form.members.choices = [(str(r.user_id), r.email) for r in found.readers]
    emails = {r.user_id: r.email for r in found.readers}
    current = [emails.get(m, str(m)) for m in members] if members is not None else None
    version = desk.questionnaires.current(row)
    questions = desk.questionnaires.questions(version)
    conditions = [(q.key, q.label) for q in questions if q.kind in ("yes_no", "single")]
    return render_template("admin/channel.html", tenant=tenant, row=row, form=form, readers_form=readers_form,
                           started=found.started, current=current, readers_error=readers_error,
                           pending=[p for p in found.pending if p.kind == "channel" and p.channel_id == row.id],
                           version=version, questions=questions, labels={q.key: q.label for q in questions},
                           question_form=questions_form or question_form(conditions, empty=True),
                           question_error=question_error, post=PostForm())

