"""/r/<slug>/my-details: a person on an insider list, given a code by mail (or in person), fills
in their own personal details for it: no account, nothing kept of their connection, the code
only in form bodies, never in a URL. The page shows which fields are asked, never what is on
file. A wrong format is shown on its field and the code stays good; every refusal of the code
(unknown, used, expired, another organisation's, a notice code) gets one calm message and counts
against the client like the confirmation page's codes."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, StringField
from wtforms.validators import InputRequired, Length, Optional

from appliance.acknowledgements.codes import MAX_TYPED
from appliance.acknowledgements.insiders import DetailsRequest
from appliance.acknowledgements.service import LinkRefused
from appliance.errors import InvalidInput
from appliance.tenants.models import Tenant
from webapp.policy import access
from webapp.reporter.desk import desk
from webapp.routes import RouteTable
from webapp.security import client_address

routes = RouteTable()
PHONE_HINT = _l("With the international prefix, e.g. +46 8 123 456 78; several separated by ;")


def _line(label: str, description: str = "", limit: int = 500) -> StringField:
    return StringField(label, description=description,
                       validators=[Optional(), Length(max=limit, message=_l("This is too long."))])


class DetailsCodeForm(FlaskForm):
    code = StringField(_l("Your code"), description=_l("The 20 characters you were given, like ABCD-EFGH-JKMN-PQRS-TVWX."),
                       validators=[InputRequired(message=_l("Enter your code.")),
                                   Length(max=MAX_TYPED, message=_l("This is longer than any code."))])


class OwnDetailsForm(FlaskForm):
    code = HiddenField(validators=[InputRequired(), Length(max=MAX_TYPED)])
    national_id = _line(_l("National identification number"), _l("As on your identity document."), 64)
    date_of_birth = _line(_l("Date of birth"), _l("yyyy-mm-dd"), 20)
    personal_phone = _line(_l("Personal telephone number(s)"), PHONE_HINT)
    home_address = _line(_l("Personal full home address"), _l("Street and number, post code, city, country."))
    birth_surname = _line(_l("Birth surname(s), if different"), _l("Leave empty if it is your surname now."), 200)


@routes.route("/my-details", methods=["GET", "POST"])
@access("reporter")
def my_details(slug: str) -> str | tuple[str, int]:
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = DetailsCodeForm()
    if form.validate_on_submit():
        try:
            asked = reporter.insider_links.open_details(tenant.id, form.code.data or "", client_address())
        except LinkRefused:
            form.code.data = ""  # a refused code is not echoed back
            form.code.errors = [_refused()]
        else:
            return _details_page(tenant, asked, OwnDetailsForm(formdata=None, data={"code": form.code.data}))
    if form.is_submitted():
        return render_template("reporter/my_details.html", tenant=tenant, form=form), 400
    return render_template("reporter/my_details.html", tenant=tenant, form=form)


@routes.post("/my-details/submit")
@access("reporter")
def submit_my_details(slug: str) -> str | tuple[str, int]:
    reporter = desk()
    tenant = reporter.tenant(slug)
    form = OwnDetailsForm()
    if not form.validate_on_submit():
        return _refused_page(tenant)
    values = {f.name: str(f.data or "") for f in form if f.name not in ("code", "csrf_token")}
    try:
        with reporter.attempt(keep=(LinkRefused,)):  # a wrong format: nothing written, the code stays good
            submitted = reporter.insider_links.submit_details(tenant.id, form.code.data or "", client_address(),
                                                              values)
    except LinkRefused:
        return _refused_page(tenant)
    except InvalidInput as exc:
        asked = reporter.insider_links.open_details(tenant.id, form.code.data or "", client_address())
        target = getattr(form, exc.field, None)
        if not isinstance(target, Field):
            target = form.national_id
        target.errors = [_message(exc.field)]
        return _details_page(tenant, asked, form, 400)
    return render_template("reporter/my_details_done.html", tenant=tenant, submitted_at=submitted.confirmed_at)


def _details_page(tenant: Tenant, asked: DetailsRequest, form: OwnDetailsForm,
                  status: int = 200) -> tuple[str, int]:
    return render_template("reporter/my_details_form.html", tenant=tenant, form=form,
                           fields=[form[name] for name in asked.fields]), status


def _refused_page(tenant: Tenant) -> tuple[str, int]:
    form = DetailsCodeForm(formdata=None)
    form.code.errors = [_refused()]
    return render_template("reporter/my_details.html", tenant=tenant, form=form), 400


def _refused() -> str:
    return _("This code cannot be used. It may have been used already or have expired, or a newer code was sent to "
             "you. Please ask the person who sent it for a new one.")


def _message(field: str) -> str:
    if field == "personal_phone":
        return _("Give each number with its international prefix, e.g. +46 8 123 456 78 (at most four).")
    if field == "national_id":
        return _("Use letters and digits only, 4 to 32 of them.")
    if field == "date_of_birth":
        return _("Give a plausible date of birth as yyyy-mm-dd.")
    return _("Fill in at least one field, each at most 500 characters, without control characters.")
