"""Delayed disclosures (MAR Art. 17(4)): the records, each with its version history; a new record,
an amendment (a new version), and the history for the competent authority as CSV or PDF (each
download is logged by the domain, without content)."""

from __future__ import annotations

import uuid

from flask import Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from appliance.disclosures.export import history_csv, history_pdf
from appliance.disclosures.service import MOMENTS, ROLES, TEXTS
from appliance.errors import InvalidInput
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.insiders.forms import AmendForm, DisclosureForm, amend_form_of, disclosure_input
from webapp.policy import access
from webapp.requestctx import app_context
from webapp.routes import RouteTable

routes = RouteTable()
MIMETYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@routes.get("/t/<slug>/disclosures")
@access("staff:insider-manager")
def disclosures(slug: str) -> str:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    return render_template("insiders/disclosures.html", tenant=tenant, records=room.disclosures.records(tenant.id))


@routes.route("/t/<slug>/disclosures/new", methods=["GET", "POST"])
@access("staff:insider-manager")
def new_disclosure(slug: str) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = DisclosureForm()
    if form.validate_on_submit():
        try:
            with room.attempt():
                version = room.disclosures.record(tenant.id, disclosure_input(form, _zone()), g.principal.actor)
        except InvalidInput as exc:
            _field_error(form, exc)
        else:
            return redirect(url_for("insiders.disclosure", slug=slug, disclosure_id=version.disclosure_id,
                                    saved=1), code=303)
    return _form_page(tenant, form, None), 400 if form.errors else 200


@routes.get("/t/<slug>/disclosures/<uuid:disclosure_id>")
@access("staff:insider-manager")
def disclosure(slug: str, disclosure_id: uuid.UUID) -> str:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    versions = room.disclosures.history(tenant.id, disclosure_id, g.principal.actor)
    labels = AmendForm(formdata=None)
    return render_template("insiders/disclosure.html", tenant=tenant, versions=list(reversed(versions)),
                           current=versions[-1], moments=[(n, labels[n].label.text) for n in MOMENTS],
                           persons=[(r, labels[f"persons_{r}"].label.text) for r in ROLES],
                           texts=[(n, labels[n].label.text) for n in TEXTS], saved=request.args.get("saved") == "1")


@routes.route("/t/<slug>/disclosures/<uuid:disclosure_id>/amend", methods=["GET", "POST"])
@access("staff:insider-manager")
def amend_disclosure(slug: str, disclosure_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    current = room.disclosures.current(tenant.id, disclosure_id, g.principal.actor)  # another tenant's: 404
    form = AmendForm()
    if form.validate_on_submit():
        try:
            with room.attempt():
                room.disclosures.amend(tenant.id, disclosure_id, disclosure_input(form, _zone()), g.principal.actor)
        except InvalidInput as exc:
            _field_error(form, exc)
        else:
            return redirect(url_for("insiders.disclosure", slug=slug, disclosure_id=disclosure_id, saved=1),
                            code=303)
    elif not form.is_submitted():
        form = amend_form_of(current, _zone())
    return _form_page(tenant, form, current.reference, disclosure_id), 400 if form.errors else 200


@routes.get("/t/<slug>/disclosures/<uuid:disclosure_id>/history.<any('csv', 'pdf'):fmt>")
@access("staff:insider-manager")
def export_disclosure(slug: str, disclosure_id: uuid.UUID, fmt: str) -> Response:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    versions = room.disclosures.history(tenant.id, disclosure_id, g.principal.actor)
    room.disclosures.exported(tenant.id, disclosure_id, fmt, g.principal.actor)
    body = history_csv(versions) if fmt == "csv" else history_pdf(versions, tenant.name, room.now())
    response = Response(body, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{versions[-1].reference}.{fmt}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _form_page(tenant: Tenant, form: DisclosureForm, reference: str | None,
               disclosure_id: uuid.UUID | None = None) -> str:
    return render_template("insiders/disclosure_form.html", tenant=tenant, form=form, reference=reference,
                           disclosure_id=disclosure_id, zone=_zone())


def _field_error(form: DisclosureForm, exc: InvalidInput) -> None:
    """The domain's word on a field the form's own checks let through (e.g. a decision before the
    information existed)."""
    name = exc.field if exc.field in form else f"persons_{exc.field}"
    field = form[name] if name in form else form.subject  # noqa: SIM401 (a form has no get())
    messages = {"decided_at": _("The decision cannot be before the information existed."),
                "persons_decision": _("Name at least one person."),
                "persons_monitoring": _("Name at least one person.")}
    field.errors = [*field.errors, messages.get(name, _("Please check this field."))]


def _zone() -> str:
    return app_context().settings.timezone
