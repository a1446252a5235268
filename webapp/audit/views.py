"""The auditor's room /audit/: search, page, verify, export. Views only turn requests into calls."""

from __future__ import annotations

from collections.abc import Iterator

from flask import abort, g, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import InvalidInput
from appliance.tenants.models import Tenant
from webapp.audit.desk import AuditDesk
from webapp.audit.forms import VerifyForm, logbook_query, search_args
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()


@routes.get("/")
@access("staff:auditor")
def index() -> Response | str:
    tenants = AuditDesk.of_request().audited(g.principal)
    if len(tenants) == 1:
        return redirect(url_for("audit.room", slug=tenants[0].slug))
    return render_template("audit/index.html", tenants=tenants)


@routes.get("/t/<slug>/")
@access("staff:auditor")
def room(slug: str) -> tuple[str, int]:
    desk = AuditDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    given = search_args(request.args)
    try:
        query = logbook_query(tenant.id, given)
        page = desk.search.page(query, request.args.get("cursor") or None)
    except InvalidInput as exc:
        return _render(desk, tenant, given, error=_error(exc)), 400
    return _render(desk, tenant, given, page=page), 200


@routes.post("/t/<slug>/verify")
@access("staff:auditor")
def verify(slug: str) -> Response:
    desk = AuditDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    if not VerifyForm().validate_on_submit():
        abort(400)
    desk.status.verify(g.principal.actor, tenant.id)
    return redirect(url_for("audit.room", slug=slug, _anchor="chain"), code=303)


@routes.get("/t/<slug>/export")
@access("staff:auditor")
def export(slug: str) -> Response | tuple[str, int]:
    desk = AuditDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    given = search_args(request.args)
    try:
        query = logbook_query(tenant.id, given)
    except InvalidInput as exc:
        return _render(desk, tenant, given, error=_error(exc)), 400
    desk.record_export(g.principal, tenant.id, query.filters())
    desk.commit_now()  # the record stands even if the download is cut off

    def body() -> Iterator[str]:
        # Each batch is read in its own short transaction, ended before it is sent (on SQLite
        # every transaction holds the write lock).
        for lines in desk.search.export_lines(query):
            desk.commit_now()
            yield "".join(line + "\n" for line in lines)
        desk.commit_now()

    response = Response(stream_with_context(body()), mimetype="application/jsonl")
    response.headers["Content-Disposition"] = f'attachment; filename="logbook-{tenant.slug}.jsonl"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _render(desk: AuditDesk, tenant: Tenant, given: dict[str, str], page: object = None,
            error: str | None = None) -> str:
    return render_template("audit/room.html", tenant=tenant, given=given, page=page, error=error,
                           checkpoint=desk.status.newest_checkpoint(),
                           verification=desk.status.last_verification(tenant.id),
                           verify_form=VerifyForm(), tenants=desk.audited(g.principal))


def _error(exc: InvalidInput) -> str:
    if exc.field == "cursor":
        return _("This page link is not valid for this search. Start again from the newest events.")
    if exc.field in ("since", "until"):
        return _("Enter times as a date, or a date and time, e.g. 2026-03-01 or 2026-03-01T08:00; "
                 "“Before” must be later than “From”.")
    return _("Search terms are at most 64 characters.")
