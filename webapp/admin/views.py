"""Administration /admin/: users and roles per tenant, report categories.

Who may do what to which account (and that nobody locks themselves out) is the domain's rule
(appliance/users/administration.py); these views only turn forms into calls."""

from __future__ import annotations

import uuid

from flask import abort, g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Role
from appliance.errors import Conflict, InvalidInput
from appliance.tenants.models import Tenant
from appliance.users.administration import IssuedPassword
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import CategoryForm, NewUserForm, PostForm, RoleForm
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import ROLE_LABELS

routes = RouteTable()


@routes.get("/")
@access("staff:admin")
def index() -> str:
    tenants = AdminDesk.of_request().administered(g.principal)
    return render_template("admin/index.html", tenants=tenants)


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
        abort(400)
    role = Role(form.role.data)
    if form.action.data == "grant":
        desk.accounts.grant_role(g.principal, tenant.id, user_id, role)
    else:
        try:
            with desk.attempt():
                desk.accounts.revoke_role(g.principal, tenant.id, user_id, role)
        except InvalidInput:
            # Losing the handler role drops the user's case keys; not while one is a case's only key.
            return _render_users(desk, tenant, _new_user_form(empty=True), None, role_error=_(
                "This handler holds the only key to at least one case, so the role stays. Ask them to share "
                "those cases with a colleague first, or set up the escrow key, then remove the role.")), 400
    return redirect(url_for("admin.users", slug=slug), code=303)


@routes.post("/t/<slug>/users/<uuid:user_id>/<any('disable', 'enable', 'reset-2fa', 'reset-password'):action>")
@access("staff:admin")
def account_action(slug: str, user_id: uuid.UUID, action: str) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    if action in ("disable", "enable"):
        desk.accounts.set_disabled(g.principal, tenant.id, user_id, action == "disable")
    elif action == "reset-2fa":
        desk.accounts.reset_two_factor(g.principal, tenant.id, user_id)
    else:
        issued = desk.accounts.reset_password(g.principal, tenant.id, user_id)
        return _render_users(desk, tenant, _new_user_form(empty=True), issued, reset=True), 200
    return redirect(url_for("admin.users", slug=slug), code=303)


@routes.get("/t/<slug>/users/<uuid:user_id>/reset-password")
@access("staff:admin")
def confirm_reset_password(slug: str, user_id: uuid.UUID) -> str:
    """Before a reset: a new password means a new key, and the user's access to cases goes with the old one."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    email = desk.accounts.email_of(g.principal, tenant.id, user_id)
    return render_template("admin/reset_password.html", tenant=tenant, user_id=user_id, email=email, post=PostForm())


@routes.route("/t/<slug>/categories", methods=["GET", "POST"])
@access("staff:admin")
def categories(slug: str) -> tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            with desk.attempt():
                desk.tenants.add_category(tenant.id, form.label.data or "", g.principal.actor)
        except (InvalidInput, Conflict):
            form.label.errors = [_("This category already exists or the name is too long.")]
        else:
            form = CategoryForm(formdata=None)
    rows = desk.tenants.categories(tenant.id, include_inactive=True)
    return render_template("admin/categories.html", tenant=tenant, form=form, rows=rows,
                           toggle=PostForm()), 400 if form.errors else 200


@routes.post("/t/<slug>/categories/<uuid:category_id>/toggle")
@access("staff:admin")
def toggle_category(slug: str, category_id: uuid.UUID) -> Response:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    category = desk.tenants.category(tenant.id, category_id)
    desk.tenants.set_category_active(tenant.id, category_id, not category.active, g.principal.actor)
    return redirect(url_for("admin.categories", slug=slug), code=303)


def _new_user_form(empty: bool = False) -> NewUserForm:
    form = NewUserForm(formdata=None) if empty else NewUserForm()
    form.roles.choices = [(r.value, str(ROLE_LABELS[r.value])) for r in Role]
    return form


def _render_users(desk: AdminDesk, tenant: Tenant, form: NewUserForm, created: IssuedPassword | None,
                  reset: bool = False, role_error: str | None = None) -> str:
    rows = desk.users_in(tenant.id)
    return render_template("admin/users.html", tenant=tenant, rows=rows, form=form,
                           created=(created.email, created.password) if created else None, reset=reset,
                           role_error=role_error,
                           role_form=RoleForm(formdata=None), post=PostForm(), roles=[r.value for r in Role])
