"""Proposed insiders of one event section, from uploaded access events: accept (the person goes on
the section, obtained at their first access) or dismiss with a reason; accesses after a person
ceased are flagged. The rules are the domain's (appliance/insiders/proposals.py)."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from appliance.errors import Conflict, InvalidInput
from appliance.insiders.proposals import MAX_REASON
from appliance.insiders.records import InsiderDetails
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()
MAX_NAME = 200
NOTICES = {"accepted": _l("The person is now on the section, from their first access."),
           "dismissed": _l("The proposal was dismissed. The person is proposed again only if they access the "
                           "project after now.")}


class AcceptForm(FlaskForm):
    first_name = StringField(_l("First name(s)"), validators=[
        InputRequired(message=_l("This field is required.")), Length(max=MAX_NAME)])
    surname = StringField(_l("Surname(s)"), validators=[
        InputRequired(message=_l("This field is required.")), Length(max=MAX_NAME)])
    function_reason = TextAreaField(_l("Function and reason for being an insider"), validators=[
        InputRequired(message=_l("This field is required.")), Length(max=2000)])
    company_name_address = StringField(_l("Company name and address"), validators=[Optional(), Length(max=500)])


class DismissForm(FlaskForm):
    reason = TextAreaField(_l("Why is this person not an insider of this section?"), validators=[
        InputRequired(message=_l("Give a reason.")), Length(max=MAX_REASON)])


@routes.get("/t/<slug>/sections/<uuid:section_id>/proposals")
@access("staff:insider-manager")
def proposals(slug: str, section_id: uuid.UUID) -> str:
    tenant = desk().tenant(g.principal, slug)
    return _page(tenant, section_id)[0]


@routes.post("/t/<slug>/sections/<uuid:section_id>/proposals/<uuid:person_id>/accept")
@access("staff:insider-manager")
def accept_proposal(slug: str, section_id: uuid.UUID, person_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = AcceptForm()
    if form.validate_on_submit():
        details = InsiderDetails(first_name=form.first_name.data, surname=form.surname.data,
                                 function_reason=form.function_reason.data,
                                 company_name_address=form.company_name_address.data or None)
        try:
            with room.attempt():
                room.proposals.accept(tenant.id, section_id, person_id, details, g.principal.actor)
        except InvalidInput as exc:
            target = form[exc.field] if exc.field in form else form.first_name  # noqa: SIM401 (a form has no get())
            target.errors = [*target.errors, _("Please check this field.")]
        except Conflict:
            form.first_name.errors = [_("This person cannot be put on this section: they are a permanent insider, "
                                        "or the section is closed.")]
        else:
            return redirect(url_for("insiders.proposals", slug=slug, section_id=section_id, done="accepted"), code=303)
    return _page(tenant, section_id, failed=(person_id, form))


@routes.post("/t/<slug>/sections/<uuid:section_id>/proposals/<uuid:person_id>/dismiss")
@access("staff:insider-manager")
def dismiss_proposal(slug: str, section_id: uuid.UUID, person_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = DismissForm()
    if form.validate_on_submit():
        try:
            with room.attempt():
                room.proposals.dismiss(tenant.id, section_id, person_id, form.reason.data or "", g.principal.actor)
        except InvalidInput:
            form.reason.errors = [_("Use at most 2,000 characters, without control characters.")]
        else:
            return redirect(url_for("insiders.proposals", slug=slug, section_id=section_id, done="dismissed"),
                            code=303)
    return _page(tenant, section_id, failed=(person_id, form))


def _page(tenant: Tenant, section_id: uuid.UUID,
          failed: tuple[uuid.UUID, AcceptForm | DismissForm] | None = None) -> tuple[str, int]:
    found = desk().proposals.for_section(tenant.id, section_id, g.principal.actor)
    accept_forms = {p.person_id: AcceptForm(formdata=None) for p in found.proposals}
    dismiss_forms = {p.person_id: DismissForm(formdata=None) for p in found.proposals}
    if failed is not None:
        person_id, form = failed
        if isinstance(form, AcceptForm):
            accept_forms[person_id] = form
        else:
            dismiss_forms[person_id] = form
    notice = NOTICES.get(request.args.get("done", ""))
    html = render_template("insiders/proposals.html", tenant=tenant, found=found, accept_forms=accept_forms,
                           dismiss_forms=dismiss_forms, notice=notice, failed=failed[0] if failed else None)
    return html, 400 if failed else 200
