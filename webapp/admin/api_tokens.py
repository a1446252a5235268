"""Administration: the tenant's API tokens. Create (the secret is shown once, on the answer to
the form, and never again), list, revoke. Tenant administrators only; CSRF on every form.

Routes on the admin blueprint (webapp/admin/__init__.py registers them).
"""

from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from appliance.api_tokens.service import MAX_EXPIRY_DAYS, MAX_NAME, Scope
from appliance.errors import Conflict, InvalidInput
from appliance.tenants.models import Tenant
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import CheckboxesField, posted_id
from webapp.admin.retention import DaysField
from webapp.choices import plain_choices
from webapp.policy import access
from webapp.requestctx import app_context
from webapp.routes import RouteTable

routes = RouteTable()
SCOPE_LABELS = {
    Scope.REPORTS_INTAKE.value: _l("Record reports received by phone, letter, in meetings or by e-mail"),
    Scope.EVENTS_UPLOAD.value: _l("Upload events"),
    Scope.INSIDERS_READ.value: _l("Read insider lists"),
    Scope.INSIDERS_WRITE.value: _l("Change insider lists"),
    Scope.STATS_READ.value: _l("Read statistics"),
}


class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), description=_l("What the token is for, e.g. the hotline desk. At most 80 characters."),
                       validators=[InputRequired(message=_l("Enter a name.")),
                                   Length(max=MAX_NAME, message=_l("Use at most 80 characters."))])
    scopes = CheckboxesField(_l("What it may do"), choices=plain_choices(s.value for s in Scope),
                             validators=[InputRequired(message=_l("Choose at least one."))])
    expires_days = DaysField(_l("Expires after (days)"),
                             description=_l("From 1 to 3650 days; leave empty for a token that does not expire."),
                             validators=[Optional(), NumberRange(1, MAX_EXPIRY_DAYS,
                                                                 message=_l("Enter a number from 1 to 3650."))],
                             render_kw={"inputmode": "numeric"})


class RevokeForm(FlaskForm):
    token_id = HiddenField(validators=[InputRequired()])


@routes.get("/t/<slug>/api-tokens")
@access("staff:admin")
def api_tokens(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    return _page(desk.tenant(g.principal, slug))


@routes.post("/t/<slug>/api-tokens")
@access("staff:admin")
def create_api_token(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = NewTokenForm()
    if form.validate_on_submit():
        try:
            with desk.attempt():
                issued = desk.api_tokens.create(tenant.id, form.name.data or "", form.scopes.data or [],
                                                form.expires_days.data, g.principal.actor)
        except InvalidInput:
            form.name.errors = [_("Use 1 to 80 characters, without line breaks.")]
        else:
            return _page(tenant, new_token=issued.token, new_name=issued.view.name)
    return _page(tenant, form=form)


@routes.post("/t/<slug>/api-tokens/revoke")
@access("staff:admin")
def revoke_api_token(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = RevokeForm()
    token_id = posted_id(form, "token_id")
    try:
        with desk.attempt():
            desk.api_tokens.revoke(token_id, g.principal.actor, tenant_id=tenant.id)  # another tenant's: 404
    except Conflict:
        return _page(tenant, problem=_("This token was already revoked."), status=409)
    return _page(tenant, notice=_("The token has been revoked. Requests made with it are refused from now on."))


def _page(tenant: Tenant, form: NewTokenForm | None = None, new_token: str | None = None, new_name: str | None = None,
          notice: str | None = None, problem: str | None = None, status: int | None = None) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    form = form or NewTokenForm(formdata=None)
    return render_template(
        "admin/api_tokens.html", tenant=tenant, tokens=desk.api_tokens.list(tenant.id), now=app_context().clock(),
        form=form, revoke=RevokeForm(formdata=None), scope_labels=SCOPE_LABELS, new_token=new_token,
        new_name=new_name, notice=notice, problem=problem), status or (400 if form.errors else 200)
