"""/r/<slug>/acknowledge: a person given a code (by mail, or in person) reads a notice of their
obligations and confirms it. No account and nothing kept of the person's connection; the code
travels only in form bodies, never in a URL. Every refusal (unknown, used, expired, another
organisation's code) gets the same calm message; wrong codes pause the client like wrong case
keys do (the reporter blueprint's 429 page)."""

from __future__ import annotations

from flask import render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import InputRequired, Length

from appliance.acknowledgements.codes import MAX_TYPED
from appliance.acknowledgements.service import LinkRefused
from webapp.policy import access
from webapp.reporter.desk import desk
from webapp.routes import RouteTable
from webapp.security import client_address

routes = RouteTable()


class CodeForm(FlaskForm):
    code = StringField(_l("Your code"), description=_l("The 20 characters you were given, like ABCD-EFGH-JKMN-PQRS-TVWX."),
                       validators=[InputRequired(message=_l("Enter your code.")),
                                   Length(max=MAX_TYPED, message=_l("This is longer than any code."))])


class ConfirmForm(FlaskForm):
    code = HiddenField(validators=[InputRequired(), Length(max=MAX_TYPED)])
    read = BooleanField(_l("I have read this notice and understand my obligations."),
                        validators=[InputRequired(message=_l("Tick the box to confirm."))])


@routes.route("/acknowledge", methods=["GET", "POST"])
@access("reporter")
def acknowledge(slug: str) -> str | tuple[str, int]:
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = CodeForm()
    if form.validate_on_submit():
        try:
            pending = reporter.acknowledgement_entry.open(tenant.id, form.code.data or "", client_address(),
                                                          _language())
        except LinkRefused:  # the view's own 400 commits: the failure count and logbook entry stay
            form.code.data = ""  # a refused code is not echoed back
            form.code.errors = [_refused()]
        else:
            confirm = ConfirmForm(formdata=None, data={"code": form.code.data})
            return render_template("reporter/acknowledge_notice.html", tenant=tenant, notice=pending.notice,
                                   form=confirm)
    if form.is_submitted():
        return render_template("reporter/acknowledge.html", tenant=tenant, form=form), 400
    return render_template("reporter/acknowledge.html", tenant=tenant, form=form)


@routes.post("/acknowledge/confirm")
@access("reporter")
def confirm_acknowledgement(slug: str) -> str | tuple[str, int]:
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = ConfirmForm()
    if not form.validate_on_submit():
        if form.code.data and not form.code.errors and "csrf_token" not in form.errors:  # the box was not ticked
            try:
                pending = reporter.acknowledgement_entry.open(tenant.id, form.code.data, client_address(),
                                                              _language())
            except LinkRefused:
                pass
            else:
                return render_template("reporter/acknowledge_notice.html", tenant=tenant, notice=pending.notice,
                                       form=form), 400
        return _refused_page(tenant_slug=slug)
    try:  # no savepoint: a refusal writes only its logbook entry, which stays
        confirmed = reporter.acknowledgement_entry.confirm(tenant.id, form.code.data or "", client_address())
    except LinkRefused:
        return _refused_page(tenant_slug=slug)
    return render_template("reporter/acknowledged.html", tenant=tenant, confirmed_at=confirmed.confirmed_at)


def _refused_page(tenant_slug: str) -> tuple[str, int]:
    form = CodeForm(formdata=None)
    form.code.errors = [_refused()]
    return render_template("reporter/acknowledge.html", tenant=desk().tenant(tenant_slug), form=form), 400


def _refused() -> str:
    return _("This code cannot be used. It may have been used already or have expired, or a newer code was sent to "
             "you. Please ask the person who sent it for a new one.")


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"
