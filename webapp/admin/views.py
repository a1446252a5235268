"""Administration /admin/: users and roles per tenant, report categories."""

from __future__ import annotations

import secrets
import uuid

from flask import Blueprint, abort, g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Role
from appliance.errors import Conflict, InvalidInput
from appliance.tenants.models import Tenant
from webapp.admin.forms import CategoryForm, NewUserForm, PostForm, RoleForm
from webapp.policy import access
from webapp.requestctx import commit, services
from webapp.templating import ROLE_LABELS

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


@blueprint.get("/")
@access("staff:admin")
def index() -> str:
    tenants = services().tenants.by_ids(g.principal.tenants_with(Role.ADMIN))
    commit()
    return render_template("admin/index.html", tenants=tenants)


@blueprint.route("/t/<slug>/users", methods=["GET", "POST"])
@access("staff:admin")
def users(slug: str) -> str | tuple[str, int]:
    desk = services()
    tenant = _tenant(slug)
    form = _new_user_form()
    created: tuple[str, str] | None = None
    if form.validate_on_submit():
        password = secrets.token_urlsafe(15)
        try:
            desk.users.create_user(form.email.data or "", password,
                                   [(tenant.id, Role(r)) for r in form.roles.data or []], g.principal.actor)
        except (InvalidInput, Conflict) as exc:
            desk.session.rollback()
            form.email.errors = [_("A user with this e-mail address already exists.") if isinstance(exc, Conflict)
                                 else _("This is not a valid e-mail address.")]
        else:
            commit()
            created = (form.email.data or "", password)
            form = _new_user_form(empty=True)
    return _render_users(tenant, form, created), 400 if form.errors else 200


@blueprint.post("/t/<slug>/users/<uuid:user_id>/roles")
@access("staff:admin")
def roles(slug: str, user_id: uuid.UUID) -> Response | tuple[str, int]:
    desk = services()
    tenant = _tenant(slug)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    desk.users.check_administers(g.principal, tenant.id, user_id)
    role = Role(form.role.data)
    if form.action.data == "grant":
        desk.users.grant_role(user_id, tenant.id, role, g.principal.actor)
    else:
        if user_id == g.principal.user_id and role == Role.ADMIN:
            abort(400)  # an admin cannot remove their own admin role and lock the tenant out
        try:
            desk.users.revoke_role(user_id, tenant.id, role, g.principal.actor)
        except InvalidInput:
            # Losing the handler role drops the user's copies of case private keys; not a case's only copy.
            desk.session.rollback()
            return _render_users(tenant, _new_user_form(empty=True), None, role_error=_(
                "This handler holds the only key to at least one case, so the role stays. Ask them to share "
                "those cases with a colleague first, or set up the escrow key, then remove the role.")), 400
    commit()
    return redirect(url_for("admin.users", slug=slug), code=303)


@blueprint.post("/t/<slug>/users/<uuid:user_id>/<any('disable', 'enable', 'reset-2fa', 'reset-password'):action>")
@access("staff:admin")
def account_action(slug: str, user_id: uuid.UUID, action: str) -> Response | str:
    desk = services()
    tenant = _tenant(slug)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    desk.users.check_administers(g.principal, tenant.id, user_id, account_wide=True)
    if user_id == g.principal.user_id and action in ("disable", "reset-2fa"):
        abort(400)
    if action in ("disable", "enable"):
        desk.users.set_disabled(user_id, action == "disable", g.principal.actor)
    elif action == "reset-2fa":
        desk.users.reset_two_factor(user_id, g.principal.actor)
    else:
        password = secrets.token_urlsafe(15)
        desk.users.set_password(user_id, password, g.principal.actor)
        email = desk.users.email_of(desk.users.get(user_id))
        commit()
        return _render_users(tenant, _new_user_form(empty=True), (email, password), reset=True)
    commit()
    return redirect(url_for("admin.users", slug=slug), code=303)


@blueprint.get("/t/<slug>/users/<uuid:user_id>/reset-password")
@access("staff:admin")
def confirm_reset_password(slug: str, user_id: uuid.UUID) -> str:
    """Before a reset: a new password means a new key, and the user's access to cases goes with the old one."""
    desk = services()
    tenant = _tenant(slug)
    desk.users.check_administers(g.principal, tenant.id, user_id, account_wide=True)
    email = desk.users.email_of(desk.users.get(user_id))
    commit()
    return render_template("admin/reset_password.html", tenant=tenant, user_id=user_id, email=email, post=PostForm())


@blueprint.route("/t/<slug>/categories", methods=["GET", "POST"])
@access("staff:admin")
def categories(slug: str) -> str | tuple[str, int]:
    desk = services()
    tenant = _tenant(slug)
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            desk.tenants.add_category(tenant.id, form.label.data or "", g.principal.actor)
        except (InvalidInput, Conflict):
            desk.session.rollback()
            form.label.errors = [_("This category already exists or the name is too long.")]
        else:
            commit()
            form = CategoryForm(formdata=None)
    rows = desk.tenants.categories(tenant.id, include_inactive=True)
    commit()
    return render_template("admin/categories.html", tenant=tenant, form=form, rows=rows,
                           toggle=PostForm()), 400 if form.errors else 200


@blueprint.post("/t/<slug>/categories/<uuid:category_id>/toggle")
@access("staff:admin")
def toggle_category(slug: str, category_id: uuid.UUID) -> Response:
    desk = services()
    tenant = _tenant(slug)
    category = desk.tenants.category(tenant.id, category_id)
    desk.tenants.set_category_active(tenant.id, category_id, not category.active, g.principal.actor)
    commit()
    return redirect(url_for("admin.categories", slug=slug), code=303)


def _tenant(slug: str) -> Tenant:
    """The tenant, only if the signed-in user administers it (else 404)."""
    tenant = services().tenants.by_slug(slug)
    if not g.principal.has(tenant.id, Role.ADMIN):
        abort(404)
    return tenant


def _new_user_form(empty: bool = False) -> NewUserForm:
    form = NewUserForm(formdata=None) if empty else NewUserForm()
    form.roles.choices = [(r.value, str(ROLE_LABELS[r.value])) for r in Role]
    return form


def _render_users(tenant: Tenant, form: NewUserForm, created: tuple[str, str] | None, reset: bool = False,
                  role_error: str | None = None) -> str:
    desk = services()
    rows = desk.users.users_in(frozenset({tenant.id}))
    commit()
    return render_template("admin/users.html", tenant=tenant, rows=rows, form=form, created=created, reset=reset,
                           role_error=role_error,
                           role_form=RoleForm(formdata=None), post=PostForm(), roles=[r.value for r in Role])
