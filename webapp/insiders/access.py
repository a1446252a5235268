"""Access events uploaded through the API, counted by source and by project over a period, for the
insider managers (the same tables, withheld cells and exports as in the analyst's room)."""

from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import InvalidInput
from appliance.statistics.access import AccessCounts, access_lines
from appliance.statistics.export import rows_csv, rows_xlsx
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.stats.charts import grid_charts_of
from webapp.stats.forms import filter_args, period_of

routes = RouteTable()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@routes.get("/t/<slug>/access-events")
@access("staff:insider-manager")
def access_events(slug: str) -> tuple[str, int]:
    tenant = desk().tenant(g.principal, slug)
    given = {k: v for k, v in filter_args(request.args).items() if k != "tenant"}
    try:
        period = period_of(given, desk().now())
    except InvalidInput:
        return _render(tenant, given, error=True), 400
    return _render(tenant, given, desk().access_counts(g.principal, tenant, period)), 200


@routes.get("/t/<slug>/access-events.<any(csv, xlsx):kind>")
@access("staff:insider-manager")
def access_events_export(slug: str, kind: str) -> Response | tuple[str, int]:
    tenant = desk().tenant(g.principal, slug)
    given = {k: v for k, v in filter_args(request.args).items() if k != "tenant"}
    try:
        period = period_of(given, desk().now())
    except InvalidInput:
        return _render(tenant, given, error=True), 400
    counts = desk().access_counts(g.principal, tenant, period)
    desk().record_access_export(g.principal, tenant, kind)
    lines = access_lines(counts)
    body, mimetype = (rows_csv(lines), "text/csv") if kind == "csv" else (rows_xlsx(lines), XLSX)
    response = Response(body, mimetype=mimetype)
    name = f"access-events-{period.first.label}-{period.last.label}.{kind}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _render(tenant: Tenant, given: dict[str, str], counts: AccessCounts | None = None, error: bool = False) -> str:
    message = _("Enter months as YYYY-MM, e.g. 2026-01; “To” must not be before “From”, and a period spans at most "
                "ten years.") if error else None
    return render_template("insiders/access_events.html", tenant=tenant, given=given, access=counts, error=message,
                           grids=grid_charts_of(counts) if counts else {})
