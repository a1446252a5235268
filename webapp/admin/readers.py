"""Administration: the organisation's reader list. An administrator proposes changes (they take
effect only when a reader confirms them on their Readers page) and, as the compliance lead,
confirms the first reader by typing the fingerprint that reader reads out.

Routes on the admin blueprint (webapp/admin/__init__.py registers them).
"""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import AccessDenied, Conflict, InvalidInput, KeyBindingInvalid, NotAReader, NotFound
from appliance.readers.overview import Overview
from appliance.tenants.models import Tenant
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import FingerprintForm, PostForm, ProposeReaderForm
from webapp.admin.forms import propose_form as new_propose_form
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/t/<slug>/readers")
@access("staff:admin")
def readers(slug: str) -> str:
    return _render(AdminDesk.of_request().tenant(g.principal, slug))


@routes.post("/t/<slug>/readers/propose")
@access("staff:admin")
def propose(slug: str) -> Response | tuple[str, int]:
    """Propose a handler as a reader (with or without every new report)."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = new_propose_form()
    try:
        user_id = uuid.UUID(form.user.data or "")
    except ValueError:
        return _render(tenant, propose_form=form, error=_("Choose a handler.")), 400
    if not form.validate_on_submit():
        return _render(tenant, propose_form=form, error=_("Choose a handler.")), 400
    try:
        with desk.attempt():
            desk.readers.propose_add(tenant.id, user_id, g.principal.actor, "web",
                                     receives=form.receives.data == "yes")
    except (NotFound, Conflict, KeyBindingInvalid):
        return _render(tenant, propose_form=form, error=_(
            "This handler cannot be proposed: they are a reader already, are not an active handler here, or "
            "have not chosen their own password yet (they get their key when they do).")), 400
    return redirect(url_for("admin.readers", slug=slug, _anchor="pending"), code=303)


@routes.post("/t/<slug>/readers/<uuid:user_id>/<any('remove', 'receive', 'stop-receiving'):change>")
@access("staff:admin")
def propose_for_reader(slug: str, user_id: uuid.UUID, change: str) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    try:
        with desk.attempt():
            if change == "remove":
                desk.readers.propose_remove(tenant.id, user_id, g.principal.actor, "web")
            else:
                desk.readers.propose_receives(tenant.id, user_id, change == "receive", g.principal.actor, "web")
    except (NotAReader, Conflict, InvalidInput):
        return _render(tenant, error=_("This change is not possible: the list must keep one reader, and the "
                                       "person must be on it.")), 400
    return redirect(url_for("admin.readers", slug=slug, _anchor="pending"), code=303)


@routes.post("/t/<slug>/readers/changes/<uuid:change_id>/confirm-start")
@access("staff:admin")
def confirm_start(slug: str, change_id: uuid.UUID) -> Response | tuple[str, int]:
    """The compliance lead starts the list: only with the fingerprint the first reader reads out."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = FingerprintForm(prefix=_prefix(change_id))
    if not form.validate_on_submit():
        return _render(tenant, fingerprint_form=(change_id, form)), 400
    try:
        # A stale request (Conflict) keeps what the attempt marked (superseded); the list is unchanged.
        with desk.attempt(keep=(Conflict, KeyBindingInvalid)):
            desk.readers.confirm_start(tenant.id, change_id, g.principal, form.fingerprint.data or "")
    except InvalidInput:
        form.fingerprint.errors = [_("This is not the fingerprint of this request. Ask the handler to read it "
                                     "again from their Readers page; if it still differs, do not confirm.")]
        return _render(tenant, fingerprint_form=(change_id, form)), 400
    except (Conflict, KeyBindingInvalid):
        return _render(tenant, error=_("This request no longer applies: the list was started meanwhile, or the "
                                       "handler's key changed outside the appliance.")), 409
    return redirect(url_for("admin.readers", slug=slug), code=303)


@routes.post("/t/<slug>/readers/changes/<uuid:change_id>/withdraw")
@access("staff:admin")
def withdraw(slug: str, change_id: uuid.UUID) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    PostForm().validate_on_submit()
    try:
        with desk.attempt():
            desk.readers.decline(tenant.id, change_id, g.principal)
    except (Conflict, AccessDenied):
        return _render(tenant, error=_("This change was decided already.")), 409
    return redirect(url_for("admin.readers", slug=slug, _anchor="pending"), code=303)


def _render(tenant: Tenant, *, propose_form: ProposeReaderForm | None = None,
            fingerprint_form: tuple[uuid.UUID, FingerprintForm] | None = None, error: str | None = None) -> str:
    desk = AdminDesk.of_request()
    found = desk.reader_overview(tenant.id)
    handlers = desk.handlers_of(tenant.id)
    form = propose_form or new_propose_form(empty=True)
    on_list = {r.user_id for r in found.readers}
    form.user.choices = [("", _("Choose…"))] + [(str(h.id), h.email) for h in handlers if h.id not in on_list]
    return render_template("admin/readers.html", tenant=tenant, found=found, form=form, error=error,
                           fingerprint_forms=_fingerprint_forms(found, fingerprint_form), post=PostForm())


def _fingerprint_forms(found: Overview, failed: tuple[uuid.UUID, FingerprintForm] | None
                       ) -> dict[uuid.UUID, FingerprintForm]:
    forms = {item.change_id: FingerprintForm(formdata=None, prefix=_prefix(item.change_id))
             for item in found.pending if item.kind == "start"}
    if failed is not None:
        forms[failed[0]] = failed[1]
    return forms


def _prefix(change_id: uuid.UUID) -> str:
    """One fingerprint form per request on the page: distinct field ids."""
    return f"c{change_id.hex[:12]}"
