"""Administration: the tenant's retention policy, its legal holds and what the next run deletes.

Routes on the admin blueprint (webapp/admin/__init__.py registers them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import TextInput

from appliance.errors import Conflict, InvalidInput
from appliance.retention.service import (
    MAX_CASE_DAYS,
    MAX_HOLD_REFERENCE,
    MIN_CLOSED_CASE_DAYS,
    MIN_UNACKNOWLEDGED_CASE_DAYS,
)
from appliance.tenants.models import Tenant
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import posted_id
from webapp.choices import plain_choices
from webapp.policy import access
from webapp.requestctx import app_context
from webapp.routes import RouteTable

routes = RouteTable()
PREVIEW_LIMIT = 50  # references listed on the page; the count is always complete
WHOLE_TENANT, ONE_CASE = "tenant", "case"
DIGITS = re.compile(r"^[0-9]{1,6}$")
SCOPE_LABELS = {ONE_CASE: _l("One case"), WHOLE_TENANT: _l("Every case of this organisation")}


class DaysField(IntegerField):
    """A whole number of days in a text input (the same look as every other field, and one clear
    message of our own for anything that is not a number)."""

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if text:
            if not DIGITS.match(text):
                raise ValueError(_l("Enter a whole number of days, like 730."))
            self.data = int(text)


def days_between(minimum: int) -> Callable[[FlaskForm, Field], None]:
    def check(_form: FlaskForm, field: Field) -> None:
        if field.data is not None and not minimum <= field.data <= MAX_CASE_DAYS:
            raise ValidationError(_l("Enter a number of days from %(min)s to %(max)s.", min=minimum,
                                     max=MAX_CASE_DAYS))
    return check


class PolicyForm(FlaskForm):
    closed_case_days = DaysField(
        _l("Delete closed cases after (days)"),
        description=_l("Counted from the day a case is closed. From 30 to 3650 days."),
        validators=[InputRequired(message=_l("Enter a number of days.")), days_between(MIN_CLOSED_CASE_DAYS)],
        render_kw={"inputmode": "numeric"})
    unacknowledged_case_days = DaysField(
        _l("Delete reports nobody acknowledged after (days)"),
        description=_l("Counted from receipt. From 90 to 3650 days; leave empty to keep them until they are "
                       "closed."),
        validators=[Optional(), days_between(MIN_UNACKNOWLEDGED_CASE_DAYS)], render_kw={"inputmode": "numeric"})


class HoldForm(FlaskForm):
    # Plain values (labels in SCOPE_LABELS): tuple choices are deprecated in WTForms 3.3 and
    # SelectChoice does not exist before it.
    scope = RadioField(_l("What the hold covers"), default=ONE_CASE, choices=plain_choices([ONE_CASE, WHOLE_TENANT]))
    case_reference = StringField(_l("Case reference"), description=_l("For one case, e.g. 7KQ2-M9XD."),
                                 validators=[Length(max=20, message=_l("No case has a reference this long."))])
    reference = StringField(
        _l("Matter or file number"),
        description=_l("What the hold is for: a matter or file number, not a name. At most 80 characters."),
        validators=[InputRequired(message=_l("Enter the matter or file number.")),
                    Length(max=MAX_HOLD_REFERENCE, message=_l("Use at most 80 characters."))])

    def validate_case_reference(self, field: StringField) -> None:
        given = (field.data or "").strip()
        if self.scope.data == ONE_CASE and not given:
            raise ValidationError(_("Enter the case reference, or choose every case."))
        if self.scope.data == WHOLE_TENANT and given:
            raise ValidationError(_("Leave the case reference empty to hold every case, or choose one case."))


class ReleaseForm(FlaskForm):
    hold_id = HiddenField(validators=[InputRequired()])


@routes.route("/t/<slug>/retention", methods=["GET", "POST"])
@access("staff:admin")
def retention(slug: str) -> tuple[str, int]:
    """The policy form (POST saves it), the holds, and a preview of the next run."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = PolicyForm()
    notice = None
    if form.validate_on_submit():
        try:
            with desk.attempt():
                desk.retention.set_policy(tenant.id, form.closed_case_days.data or 0,
                                          form.unacknowledged_case_days.data, g.principal.actor)
        except InvalidInput as exc:
            # The form checks the same bounds; this is the domain's word if they ever differ.
            unacknowledged = exc.field == "unacknowledged_case_days"
            field = form.unacknowledged_case_days if unacknowledged else form.closed_case_days
            field.errors = [_("Enter a number of days from %(min)s to %(max)s.", max=MAX_CASE_DAYS,
                              min=MIN_UNACKNOWLEDGED_CASE_DAYS if unacknowledged else MIN_CLOSED_CASE_DAYS)]
        else:
            notice = _("The retention policy has been saved. It applies from the next run.")
    if not form.is_submitted() or notice:
        return _page(tenant, notice=notice)  # the form shows the stored policy
    return _page(tenant, policy_form=form)


@routes.post("/t/<slug>/retention/holds")
@access("staff:admin")
def place_hold(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = HoldForm()
    notice = None
    if form.validate_on_submit():
        case_reference = (form.case_reference.data or "").strip() if form.scope.data == ONE_CASE else None
        try:
            with desk.attempt():
                desk.retention.place_hold(tenant.id, case_reference, form.reference.data or "", g.principal.actor)
        except InvalidInput as exc:
            if exc.field == "case":
                form.case_reference.errors = [_("No case of this organisation has this reference.")]
            else:
                form.reference.errors = [_("Enter a matter or file number of at most 80 characters, not a name or "
                                           "an e-mail address.")]
        else:
            notice = _("The legal hold has been placed. What it covers is not deleted until it is released.")
            form = HoldForm(formdata=None)
    return _page(tenant, hold_form=form, notice=notice)


@routes.post("/t/<slug>/retention/holds/release")
@access("staff:admin")
def release_hold(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = ReleaseForm()
    hold_id = posted_id(form, "hold_id")
    try:
        with desk.attempt():
            desk.retention.release_hold(hold_id, tenant.id, g.principal.actor)  # another tenant's hold: NotFound, 404
    except Conflict:
        return _page(tenant, problem=_("This legal hold was already released."), status=409)
    return _page(tenant, notice=_("The legal hold has been released. What it covered is deleted at the next run "
                                  "once it is due."))


def _page(tenant: Tenant, policy_form: PolicyForm | None = None, hold_form: HoldForm | None = None,
          notice: str | None = None, problem: str | None = None, status: int | None = None) -> tuple[str, int]:
    """The whole page; a form that failed keeps its input and errors, the others start fresh."""
    desk = AdminDesk.of_request()
    settings = app_context().settings
    policy = desk.retention.policy(tenant.id)
    if policy_form is None:
        policy_form = PolicyForm(formdata=None, data={"closed_case_days": policy.closed_case_days,
                                                      "unacknowledged_case_days": policy.unacknowledged_case_days})
    hold_form = hold_form or HoldForm(formdata=None)
    holds = desk.retention.holds(tenant.id)
    due = desk.retention.due(app_context().clock(), tenant_id=tenant.id)
    failed = bool(policy_form.errors or hold_form.errors)
    return render_template(
        "admin/retention.html", tenant=tenant, policy=policy, policy_form=policy_form, hold_form=hold_form,
        release=ReleaseForm(formdata=None), scope_labels=SCOPE_LABELS, holds=holds, due=due[:PREVIEW_LIMIT], due_count=len(due),
        log_days=settings.log_retention_days, job_run_days=settings.job_run_retention_days, notice=notice,
        problem=problem), status or (400 if failed else 200)
