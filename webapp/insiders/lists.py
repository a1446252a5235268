"""Insider lists (MAR Art. 18): the sections (one per piece of inside information, and the
permanent insiders), opening one, and closing an event section after a confirmation step
(everyone still on it ceases at the closing time)."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from appliance.errors import Conflict, InvalidInput
from appliance.insiders.records import SectionAsAt
from appliance.insiders.templates import PERMANENT
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.insiders.list_forms import ButtonForm, CloseForm, SectionForm, domain_error, utc
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/t/<slug>/lists")
@access("staff:insider-manager")
def sections(slug: str) -> tuple[str, int]:
    return _page(desk().tenant(g.principal, slug))


@routes.post("/t/<slug>/lists")
@access("staff:insider-manager")
def open_section(slug: str) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = SectionForm()
    if form.validate_on_submit():
        try:
            with room.attempt():
                section_id = room.insider_lists.create_section(
                    tenant.id, form.code.data or "", form.description.data or "", utc(form.identified_at.data)
                    or room.now(), g.principal.actor)
        except InvalidInput as exc:
            domain_error(form, exc, {"code": "code", "description": "description"})
        else:
            return redirect(url_for("insiders.section", slug=slug, section_id=section_id), code=303)
    return _page(tenant, form=form)


@routes.post("/t/<slug>/lists/permanent")
@access("staff:insider-manager")
def open_permanent(slug: str) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    if not ButtonForm().validate_on_submit():
        return _page(tenant, problem=_("The form expired. Please try again."), status=400)
    try:
        with room.attempt():
            section_id = room.insider_lists.open_permanent_section(tenant.id, g.principal.actor)
    except Conflict:
        return _page(tenant, problem=_("This organisation already has its permanent insiders section."), status=409)
    return redirect(url_for("insiders.section", slug=slug, section_id=section_id), code=303)


@routes.route("/t/<slug>/lists/<uuid:section_id>/close", methods=["GET", "POST"])
@access("staff:insider-manager")
def close_section(slug: str, section_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    """First the reason and the time, then a page that says who will cease, then the closing."""
    room = desk()
    tenant = room.tenant(g.principal, slug)
    part = _section(tenant, section_id)
    if part.section.kind == PERMANENT or part.section.closed_at is not None:
        return _close_page(tenant, part, CloseForm(formdata=None),
                           problem=_("Only an open event section can be closed."), status=409)
    form = CloseForm()
    if not form.is_submitted():
        form = CloseForm(formdata=None, data={"closed_at": room.now().replace(second=0, microsecond=0, tzinfo=None)})
        return _close_page(tenant, part, form)
    if not form.validate_on_submit():
        return _close_page(tenant, part, form, status=400)
    if form.confirmed.data != "yes":
        return _close_page(tenant, part, form, confirming=True)
    try:
        with room.attempt():
            ceased = room.insider_lists.close_section(tenant.id, section_id, utc(form.closed_at.data) or room.now(),
                                                      form.reason.data or "", g.principal.actor)
    except InvalidInput as exc:
        domain_error(form, exc, {"closed_at": "closed_at", "reason": "reason"})
        return _close_page(tenant, part, form, status=400)
    return redirect(url_for("insiders.section", slug=slug, section_id=section_id, closed=ceased), code=303)


def _section(tenant: Tenant, section_id: uuid.UUID) -> SectionAsAt:
    room = desk()
    (part,) = room.insider_history.as_at(tenant.id, room.now(), g.principal.actor, section_id).sections
    return part


def _close_page(tenant: Tenant, part: SectionAsAt, form: CloseForm, problem: str | None = None,
                confirming: bool = False, status: int = 200) -> tuple[str, int]:
    active = [i for i in part.insiders if i.ceased is None]
    return render_template("insiders/list_close.html", tenant=tenant, part=part, form=form, active=active,
                           confirming=confirming, problem=problem), status


def _page(tenant: Tenant, form: SectionForm | None = None, problem: str | None = None,
          status: int | None = None) -> tuple[str, int]:
    room = desk()
    now = room.now()
    listed = room.insider_history.as_at(tenant.id, now, g.principal.actor).sections
    events = [p for p in listed if p.section.kind != PERMANENT]
    permanent = next((p for p in listed if p.section.kind == PERMANENT), None)
    form = form or SectionForm(formdata=None, data={"identified_at": now.replace(second=0, microsecond=0,
                                                                                 tzinfo=None)})
    return render_template("insiders/lists.html", tenant=tenant, events=events, permanent=permanent, form=form,
                           button=ButtonForm(formdata=None), problem=problem), status or (400 if form.errors else 200)
