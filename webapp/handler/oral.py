"""Recording a report received by phone or in a meeting (Directive 2019/1937 Art. 18).

The handler enters the minutes or a transcript (and may add the recording), with the reporter's
consent; the report is sealed like any report and the receipt shows the reporter's case key
once. The reporter checks the record on the follow-up page and approves or corrects it.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from flask import g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from appliance.actors import Role
from appliance.cases.oral_reports import Channel, OralReport
from appliance.errors import ChannelNotReady, InvalidInput, NotAReader, TooLarge
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import OralReportForm, PostForm
from webapp.policy import access
from webapp.requestctx import app_context
from webapp.routes import RouteTable
from webapp.templating import category_label
from webapp.uploads import uploads_from

routes = RouteTable()

CHANNEL_LABELS = {Channel.PHONE: _l("By phone (or another voice messaging system)"),
                  Channel.MEETING: _l("In a meeting"), Channel.OTHER: _l("Other")}


def channel_label(channel: str) -> str:
    return str(CHANNEL_LABELS.get(Channel(channel), channel)) if channel in set(Channel) else channel


@routes.route("/oral-reports/new", methods=["GET", "POST"])
@access("staff:handler")
def record_oral_report() -> str | tuple[str, int]:
    """The form; on success the receipt with the reporter's case key (shown once, never stored)."""
    desk = HandlerDesk.of_request()
    form = _form(desk)
    if form.validate_on_submit():
        category_id = uuid.UUID(form.category.data or "")
        tenant_id = desk.tenant_of_category(g.principal, category_id)
        recordings = uploads_from("recording")
        try:
            reporting_channel_id = uuid.UUID(form.reporting_channel.data) if form.reporting_channel.data else None
        except ValueError:
            reporting_channel_id = uuid.UUID(int=0)  # tampered: refused below like another tenant's channel
        try:
            with desk.attempt():
                receipt = desk.oral_reports.record(g.principal, tenant_id, OralReport(
                    category_id=category_id, channel=form.channel.data or "",
                    received_at=_aware(form.received_at.data), minutes=form.minutes.data or "",
                    consent=bool(form.consent.data), reporting_channel_id=reporting_channel_id),
                    recordings[0] if recordings else None)
        except InvalidInput as exc:
            getattr(form, exc.field if exc.field in form else "minutes").errors = [_field_error(exc.field)]
        except TooLarge:
            form.recording.errors = [_("The recording is larger than this appliance accepts.")]
        except (NotAReader, ChannelNotReady):
            return render_template("handler/oral_new.html", form=form, logout=PostForm(), not_sealed_to_you=True), 400
        else:
            return render_template("handler/oral_receipt.html", case_key=receipt.case_key.display,
                                   case_id=receipt.case_id, tenant=desk.tenant_by_id(tenant_id), logout=PostForm())
    if form.is_submitted():
        return render_template("handler/oral_new.html", form=form, logout=PostForm()), 400
    return render_template("handler/oral_new.html", form=form, logout=PostForm())


def _form(desk: HandlerDesk) -> OralReportForm:
    form = OralReportForm()
    tenants = desk.tenants.by_ids(g.principal.tenants_with(Role.HANDLER))
    several = len(tenants) > 1
    form.category.choices = [("", _("Choose…"))] + [
        (str(c.id), f"{t.name} — {category_label(c.label)}" if several else category_label(c.label))
        for t in tenants for c in desk.tenants.categories(t.id)]
    # The default channel of the category's organisation unless another open one is chosen.
    form.reporting_channel.choices = [("", _("The organisation's default channel"))] + [
        (str(c.id), f"{t.name} — {c.name}" if several else c.name)
        for t in tenants for c in desk.oral_reports.channels(g.principal, t.id) if not c.is_default]
    form.channel.choices = [(c.value, str(label)) for c, label in CHANNEL_LABELS.items()]
    if not form.is_submitted():  # a record is usually made right after the call: start from now
        context = app_context()
        form.received_at.data = context.clock().astimezone(zoneinfo.ZoneInfo(context.settings.timezone)).replace(
            tzinfo=None, second=0, microsecond=0)
    return form


def _aware(value: dt.datetime | None) -> dt.datetime:
    """The local time typed in the installation's time zone (the one every page shows)."""
    assert value is not None  # InputRequired
    return value.replace(tzinfo=zoneinfo.ZoneInfo(app_context().settings.timezone)).astimezone(dt.UTC)


def _field_error(field: str) -> str:
    return {
        "consent": _("Confirm that the reporter consented to the record (Directive 2019/1937 Art. 18(2))."),
        "category": _("Choose what the report is about."),
        "channel": _("Choose how the report was received."),
        "reporting_channel": _("Choose an open channel of the organisation the category belongs to."),
        "received_at": _("Give a time within the last 30 days, not in the future."),
        "recording": _("The recording must be an audio or video file."),
    }.get(field, _("Write the minutes or the transcript (at most 20,000 characters)."))
