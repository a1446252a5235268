"""A section's history and its exports for the competent authority: the section "as at" any
moment and what changed between two moments (GET forms: the moments are in the URL, never a
name), the export in the template's columns as CSV, XLSX or PDF (each logged by the domain), and
the date a transmission was made."""

from __future__ import annotations

import datetime as dt
import uuid

from flask import Response, abort, g, render_template, request
from flask_babel import gettext as _

from appliance.errors import InvalidInput
from appliance.insiders.records import ListDiff, SectionAsAt
from appliance.insiders.templates import template_for
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.insiders.list_forms import FIELD_LABELS, MOMENT_FORMAT, TransmissionForm, domain_error, utc
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()
MIMETYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@routes.get("/t/<slug>/lists/<uuid:section_id>/history")
@access("staff:insider-manager")
def section_history(slug: str, section_id: uuid.UUID) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    now = room.now()
    errors: dict[str, str] = {}
    as_at = _moment("as_at", now, errors)
    since = _moment("since", now - dt.timedelta(days=7), errors)
    until = _moment("until", now, errors)
    actor = g.principal.actor
    (part,) = room.insider_history.as_at(tenant.id, as_at, actor, section_id).sections or (None,)
    diff: ListDiff | None = None
    if "since" not in errors and "until" not in errors:
        try:
            diff = room.insider_history.diff(tenant.id, since, until, actor, section_id)
        except InvalidInput:
            errors["until"] = _("The second moment must not be before the first.")
    names = _names(tenant, section_id, until)
    return render_template(
        "insiders/list_history.html", tenant=tenant, section_id=section_id, part=part, diff=diff, names=names,
        labels=FIELD_LABELS, values={k: v.strftime(MOMENT_FORMAT) for k, v in
                                     (("as_at", as_at), ("since", since), ("until", until))},
        errors=errors, columns=template_for(part.section.kind, as_at).columns if part else (),
        form=TransmissionForm(formdata=None, data={"as_at": as_at.replace(tzinfo=None), "transmitted_on": now.date()}),
    ), 400 if errors else 200


@routes.get("/t/<slug>/lists/<uuid:section_id>/export.<any('csv', 'xlsx', 'pdf'):fmt>")
@access("staff:insider-manager")
def export_section(slug: str, section_id: uuid.UUID, fmt: str) -> Response | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    errors: dict[str, str] = {}
    as_at = _moment("as_at", room.now(), errors)
    if errors or as_at > room.now():
        abort(400)
    body = room.insider_exports.export(tenant.id, section_id, fmt, as_at, g.principal.actor)
    response = Response(body, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="insider-list-{as_at:%Y%m%dT%H%M}Z.{fmt}"')  # no code or name in it
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@routes.post("/t/<slug>/lists/<uuid:section_id>/transmitted")
@access("staff:insider-manager")
def record_transmission(slug: str, section_id: uuid.UUID) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = TransmissionForm()
    if form.validate_on_submit() and form.transmitted_on.data is not None:
        try:
            with room.attempt():
                room.insider_exports.record_transmission(tenant.id, section_id, form.export_format.data or "",
                                                         utc(form.as_at.data) or room.now(),
                                                         form.transmitted_on.data, g.principal.actor)
        except InvalidInput as exc:
            if exc.field == "transmitted_on":
                form.transmitted_on.errors = [_("Give a day between the as-at date and today.")]
            else:
                domain_error(form, exc, {"as_at": "as_at", "format": "export_format"})
        else:
            return render_template("insiders/list_transmission.html", tenant=tenant, section_id=section_id,
                                   form=form, done=True), 200
    return render_template("insiders/list_transmission.html", tenant=tenant, section_id=section_id, form=form,
                           done=False), 400


def _moment(name: str, default: dt.datetime, errors: dict[str, str]) -> dt.datetime:
    """A moment from the query string (yyyy-mm-ddThh:mm, UTC); the default when absent."""
    text = request.args.get(name, "")
    if not text:
        return default.replace(second=0, microsecond=0)
    try:
        return dt.datetime.strptime(text[:16], MOMENT_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        errors[name] = _("Give a date and time as yyyy-mm-ddThh:mm.")
        return default.replace(second=0, microsecond=0)


def _names(tenant: Tenant, section_id: uuid.UUID, moment: dt.datetime) -> dict[uuid.UUID, str]:
    """Who each entry is, for the diff (as at its later moment, when everyone in it exists)."""
    room = desk()
    parts: tuple[SectionAsAt, ...] = room.insider_history.as_at(tenant.id, moment, g.principal.actor,
                                                                section_id).sections
    return {i.entry_id: " ".join(p for p in (i.details.first_name, i.details.surname) if p)
            for part in parts for i in part.insiders}
