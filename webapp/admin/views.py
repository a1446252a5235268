"""Administration /admin/: the start page and report categories (users and roles: users.py)."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import Conflict, InvalidInput
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import CategoryForm, PostForm
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/")
@access("staff:admin")
def index() -> str:
    tenants = AdminDesk.of_request().administered(g.principal)
    return render_template("admin/index.html", tenants=tenants)


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
