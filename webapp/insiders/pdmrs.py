"""The PDMR register (MAR Art. 19(5)): PDMRs and their closely associated persons, each with the
state of their written notification of obligations (sent, confirmed, expired, reminders); add,
remove (dated: the entry stays on record), send the notification (the mail job delivers the code),
or issue a code shown once here, for handing over in person."""

from __future__ import annotations

import uuid

from flask import g, render_template
from flask_babel import gettext as _

from appliance.errors import Conflict, InvalidInput, PersonConflict
from appliance.pdmr.register import PDMR
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.insiders.forms import AssociateForm, EntryForm, NotifyForm, PdmrForm, posted_id
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/t/<slug>/pdmrs")
@access("staff:insider-manager")
def pdmrs(slug: str) -> tuple[str, int]:
    return _page(desk().tenant(g.principal, slug))


@routes.post("/t/<slug>/pdmrs")
@access("staff:insider-manager")
def add_pdmr(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = PdmrForm()
    if form.validate_on_submit() and _added(form, tenant, None):
        return _page(tenant, notice=_("The PDMR has been added to the register. Send them the notification of "
                                      "their obligations next."))
    return _page(tenant, pdmr_form=form)


@routes.post("/t/<slug>/pdmrs/associates")
@access("staff:insider-manager")
def add_associate(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = AssociateForm()
    if form.validate_on_submit():
        try:
            pdmr_id = uuid.UUID(form.pdmr.data or "")
        except ValueError:
            form.pdmr.errors = [_("Choose a PDMR on the register.")]
        else:
            if _added(form, tenant, pdmr_id):
                return _page(tenant, notice=_("The closely associated person has been added to the register."))
    return _page(tenant, associate_form=form)


@routes.post("/t/<slug>/pdmrs/remove")
@access("staff:insider-manager")
def remove_entry(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    entry_id = posted_id(EntryForm(), "entry_id")
    try:
        with room.attempt():
            room.pdmrs.remove(tenant.id, entry_id, g.principal.actor)  # another tenant's: NotFound, 404
    except Conflict:
        return _page(tenant, problem=_("This person was already removed from the register."), status=409)
    return _page(tenant, notice=_("The person has been removed from the register as of today. The entry stays on "
                                  "record with the date."))


@routes.post("/t/<slug>/pdmrs/notify")
@access("staff:insider-manager")
def notify(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = NotifyForm()
    entry_id = posted_id(form, "entry_id")
    try:
        with room.attempt():
            room.pdmrs.notify_obligations(tenant.id, entry_id, form.language.data or "en", g.principal.actor)
    except Conflict:
        return _page(tenant, problem=_("This person is no longer on the register."), status=409)
    return _page(tenant, notice=_("The notification will be e-mailed within a few minutes with a code to confirm "
                                  "it. You can also issue a code here to hand over in person."))


@routes.post("/t/<slug>/pdmrs/code")
@access("staff:insider-manager")
def issue_code(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    entry_id = posted_id(EntryForm(), "entry_id")
    entry = room.pdmrs.get(tenant.id, entry_id, g.principal.actor)
    if entry.acknowledgement_id is None or entry.removed_at is not None:
        return _page(tenant, problem=_("Send the notification first."), status=409)
    try:
        with room.attempt():
            issued = room.acknowledgements.issue(tenant.id, entry.acknowledgement_id, g.principal.actor)
    except Conflict:
        return _page(tenant, problem=_("This notification is no longer open: it was confirmed, withdrawn or has "
                                       "expired. Send a new one."), status=409)
    return _page(tenant, issued_code=issued.code, issued_for=entry.name)


def _added(form: PdmrForm, tenant: Tenant, associate_of: uuid.UUID | None) -> bool:
    room = desk()
    try:
        with room.attempt():
            room.pdmrs.add(tenant.id, form.name.data or "", form.email.data or "", form.detail.data or "",
                           g.principal.actor, associate_of=associate_of)
    except (Conflict, PersonConflict):
        form.email.errors = [_("This person is on the register already.")]
    except InvalidInput as exc:
        if exc.field == "email":
            form.email.errors = [_("This is not a valid e-mail address.")]
        elif exc.field == "associate_of" and isinstance(form, AssociateForm):
            form.pdmr.errors = [_("Choose a PDMR on the register.")]
        elif exc.field == "detail":
            form.detail.errors = [_("Use at most 200 characters, without line breaks.")]
        else:
            form.name.errors = [_("Please check this field.")]
    else:
        return True
    return False


def _page(tenant: Tenant, pdmr_form: PdmrForm | None = None, associate_form: AssociateForm | None = None,
          notice: str | None = None, problem: str | None = None, issued_code: str | None = None,
          issued_for: str | None = None, status: int | None = None) -> tuple[str, int]:
    room = desk()
    entries = room.pdmrs.entries(tenant.id, g.principal.actor, include_removed=True)
    links = room.links_of_entries(tenant.id, [e.id for e in entries])
    names = {e.id: e.name for e in entries}
    active_pdmrs = [e for e in entries if e.kind == PDMR and e.removed_at is None]
    pdmr_form = pdmr_form or PdmrForm(formdata=None)
    if associate_form is None:
        associate_form = AssociateForm(formdata=None)
    associate_form.pdmr.choices = [(str(e.id), e.name or "—") for e in active_pdmrs]
    failed = bool(pdmr_form.errors or associate_form.errors)
    return render_template(
        "insiders/pdmrs.html", tenant=tenant, entries=entries, links=links, names=names, now=room.now(),
        pdmr_form=pdmr_form, associate_form=associate_form, entry_form=EntryForm(formdata=None),
        notify_form=NotifyForm(formdata=None), has_pdmrs=bool(active_pdmrs), notice=notice, problem=problem,
        issued_code=issued_code, issued_for=issued_for), status or (400 if failed else 200)
