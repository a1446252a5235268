"""Users and roles of one tenant under /admin/t/<slug>/users.

Whatever takes access away (revoking a role, disabling an account, resetting its second factor
or password) is asked first on a confirmation page: the POST that does it carries the
confirmation page's ``confirmed`` field, or it only shows that page (400). Who may do what to
which account, and that nobody does it to their own, is the domain's rule
(appliance/users/administration.py), checked before the confirmation is even asked."""

from __future__ import annotations

import uuid

from flask import abort, g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Role
from appliance.errors import Conflict, InvalidInput
from appliance.tenants.models import Tenant
from appliance.users.administration import IssuedPassword, Removal
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import ConfirmForm, NewUserForm, PostForm, RoleForm
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import ROLE_HELP, ROLE_LABELS

routes = RouteTable()
REMOVALS = "any('disable', 'reset-2fa', 'reset-password')"
ROLES = "any(" + ", ".join(repr(r.value) for r in Role) + ")"


@routes.route("/t/<slug>/users", methods=["GET", "POST"])
@access("staff:admin")
def users(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = _new_user_form()
    created: IssuedPassword | None = None
    if form.validate_on_submit():
        try:
            with desk.attempt():
                created = desk.accounts.create_user(g.principal, tenant.id, form.email.data or "",
                                                    [Role(r) for r in form.roles.data or []])
        except (InvalidInput, Conflict) as exc:
            form.email.errors = [_("A user with this e-mail address already exists.") if isinstance(exc, Conflict)
                                 else _("This is not a valid e-mail address.")]
        else:
            form = _new_user_form(empty=True)
    return _render_users(desk, tenant, form, created), 400 if form.errors else 200


@routes.post("/t/<slug>/users/<uuid:user_id>/roles")
@access("staff:admin")
def roles(slug: str, user_id: uuid.UUID) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = RoleForm()
    if not form.validate_on_submit():
        if set(form.errors) != {"role"}:  # a tampered form (CSRF is checked before the view)
            abort(400)
        return _render_users(desk, tenant, _new_user_form(empty=True), None, role_error=_(
            "Choose the role to grant, then press Grant.")), 400
    role = Role(form.role.data)
    if form.action.data == "grant":
        desk.accounts.grant_role(g.principal, tenant.id, user_id, role)
        return redirect(url_for("admin.users", slug=slug), code=303)
    email = desk.accounts.check_removal(g.principal, tenant.id, user_id, "revoke")
    if not ConfirmForm().confirmed_on_submit():
        return _render_confirm(tenant, user_id, email, "revoke", role=role.value, unconfirmed=True), 400
    try:
        with desk.attempt():
            desk.accounts.revoke_role(g.principal, tenant.id, user_id, role)
    except InvalidInput:
        # Losing the handler role drops the user's copies of case private keys; not a case's only copy.
        return _render_users(desk, tenant, _new_user_form(empty=True), None, role_error=_(
            "This handler holds the only key to at least one case, so the role stays. Ask them to share "
            "those cases with a colleague first, or set up the escrow key, then remove the role.")), 400
    return redirect(url_for("admin.users", slug=slug), code=303)


@routes.get(f"/t/<slug>/users/<uuid:user_id>/roles/<{ROLES}:role>/revoke")
@access("staff:admin")
def confirm_revoke(slug: str, user_id: uuid.UUID, role: str) -> str:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    email = desk.accounts.check_removal(g.principal, tenant.id, user_id, "revoke")
    return _render_confirm(tenant, user_id, email, "revoke", role=role)


@routes.post("/t/<slug>/users/<uuid:user_id>/<any('enable', 'disable', 'reset-2fa', 'reset-password'):action>")
@access("staff:admin")
def account_action(slug: str, user_id: uuid.UUID, action: str) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    if action == "enable":  # gives access back: nothing to confirm
        PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
        desk.accounts.set_disabled(g.principal, tenant.id, user_id, False)
        return redirect(url_for("admin.users", slug=slug), code=303)
    removal: Removal = "disable" if action == "disable" else "reset-2fa" if action == "reset-2fa" else "reset-password"
    email = desk.accounts.check_removal(g.principal, tenant.id, user_id, removal)
    if not ConfirmForm().confirmed_on_submit():
        return _render_confirm(tenant, user_id, email, removal, unconfirmed=True), 400
    if removal == "disable":
        desk.accounts.set_disabled(g.principal, tenant.id, user_id, True)
    elif removal == "reset-2fa":
        desk.accounts.reset_two_factor(g.principal, tenant.id, user_id)
    else:
        issued = desk.accounts.reset_password(g.principal, tenant.id, user_id)
        return _render_users(desk, tenant, _new_user_form(empty=True), issued, reset=True), 200
    return redirect(url_for("admin.users", slug=slug), code=303)


@routes.get(f"/t/<slug>/users/<uuid:user_id>/<{REMOVALS}:action>")
@access("staff:admin")
def confirm_removal(slug: str, user_id: uuid.UUID, action: Removal) -> str:
    """Before a removal: what it takes away (a reset password takes the user's key to their cases)."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    email = desk.accounts.check_removal(g.principal, tenant.id, user_id, action)
    return _render_confirm(tenant, user_id, email, action)


def _render_confirm(tenant: Tenant, user_id: uuid.UUID, email: str, removal: Removal, role: str | None = None,
                    unconfirmed: bool = False) -> str:
    return render_template("admin/confirm_removal.html", tenant=tenant, user_id=user_id, email=email,
                           removal=removal, role=role, unconfirmed=unconfirmed, form=ConfirmForm(formdata=None))


def _new_user_form(empty: bool = False) -> NewUserForm:
    form = NewUserForm(formdata=None) if empty else NewUserForm()
    form.roles.choices = [(r.value, str(ROLE_LABELS[r.value])) for r in Role]
    return form


def _render_users(desk: AdminDesk, tenant: Tenant, form: NewUserForm, created: IssuedPassword | None,
                  reset: bool = False, role_error: str | None = None) -> str:
    rows = desk.users_in(tenant.id)
    return render_template("admin/users.html", tenant=tenant, rows=rows, form=form,
                           created=(created.email, created.password) if created else None, reset=reset,
                           role_error=role_error, role_form=RoleForm(formdata=None), post=PostForm(),
                           roles=[r.value for r in Role], role_help=ROLE_HELP)
