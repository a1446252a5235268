"""The financial calendar: the days interim and year-end reports are announced, and the closed
periods (MAR Art. 19(11)) they imply for PDMRs; add or cancel an announcement."""

from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _

from appliance.errors import Conflict, InvalidInput
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.insiders.forms import AnnouncementForm, CancelForm, posted_id
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/t/<slug>/calendar")
@access("staff:insider-manager")
def calendar(slug: str) -> tuple[str, int]:
    return _page(desk().tenant(g.principal, slug))


@routes.post("/t/<slug>/calendar")
@access("staff:insider-manager")
def add_announcement(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = AnnouncementForm()
    if form.validate_on_submit() and form.announce_on.data is not None:
        try:
            with room.attempt():
                room.calendar.add(tenant.id, form.kind.data or "", form.announce_on.data, form.label.data or "",
                                  g.principal.actor)
        except InvalidInput as exc:
            if exc.field == "announce_on":
                form.announce_on.errors = [_("The day is in the past.")]
            else:
                form.label.errors = [_("Use 1 to 80 characters, without line breaks.")]
        else:
            return _page(tenant, notice=_("The announcement has been added. Its closed period is shown below."))
    return _page(tenant, form=form)


@routes.post("/t/<slug>/calendar/cancel")
@access("staff:insider-manager")
def cancel_announcement(slug: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    report_id = posted_id(CancelForm(), "report_id")
    try:
        with room.attempt():
            room.calendar.cancel(tenant.id, report_id, g.principal.actor)  # another tenant's: NotFound, 404
    except Conflict:
        return _page(tenant, problem=_("This announcement was already removed."), status=409)
    return _page(tenant, notice=_("The announcement has been removed; its closed period no longer applies."))


def _page(tenant: Tenant, form: AnnouncementForm | None = None, notice: str | None = None,
          problem: str | None = None, status: int | None = None) -> tuple[str, int]:
    room = desk()
    form = form or AnnouncementForm(formdata=None)
    return render_template(
        "insiders/calendar.html", tenant=tenant, announcements=room.calendar.announcements(tenant.id),
        today=room.now().date(), form=form, cancel=CancelForm(formdata=None), notice=notice,
        problem=problem), status or (400 if form.errors else 200)
