"""The analyst's room /stats/: figures, charts and exports. Views only turn requests into calls."""

from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.errors import InvalidInput
from appliance.statistics.access import AccessCounts, access_lines
from appliance.statistics.export import figures_csv, figures_xlsx
from appliance.statistics.figures import Figures
from appliance.tenants.models import Tenant
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.stats.charts import charts_of, grid_charts_of
from webapp.stats.desk import StatsDesk
from webapp.stats.forms import filter_args, period_of

routes = RouteTable()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@routes.get("/")
@access("staff:analyst")
def index() -> tuple[str, int]:
    desk = StatsDesk.of_request()
    given = filter_args(request.args)
    tenants = _chosen(desk, given)
    try:
        period = period_of(given, desk.now())
    except InvalidInput as exc:
        return _render(desk, given, error=_error(exc)), 400
    figures, access = desk.figures(g.principal, tenants, period)
    return _render(desk, given, figures=figures, access=access), 200


@routes.get("/export.<any(csv, xlsx):kind>")
@access("staff:analyst")
def export(kind: str) -> Response | tuple[str, int]:
    desk = StatsDesk.of_request()
    given = filter_args(request.args)
    tenants = _chosen(desk, given)
    try:
        period = period_of(given, desk.now())
    except InvalidInput as exc:
        return _render(desk, given, error=_error(exc)), 400
    figures, access = desk.figures(g.principal, tenants, period)
    desk.record_export(g.principal, tenants, kind)
    more = access_lines(access)
    body, mimetype = (figures_csv(figures, more), "text/csv") if kind == "csv" else (figures_xlsx(figures, more), XLSX)
    response = Response(body, mimetype=mimetype)
    name = f"statistics-{period.first.label}-{period.last.label}.{kind}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _chosen(desk: StatsDesk, given: dict[str, str]) -> list[Tenant]:
    """One tenant the analyst holds the role in (404 for any other slug), or all of them."""
    if "tenant" in given:
        return [desk.tenant(g.principal, given["tenant"])]
    return desk.analysed(g.principal)


def _render(desk: StatsDesk, given: dict[str, str], figures: Figures | None = None,
            error: str | None = None, access: AccessCounts | None = None) -> str:
    tenants = desk.analysed(g.principal)
    return render_template("stats/index.html", given=given, figures=figures, error=error,
                           charts=charts_of(figures) if figures else {}, tenants=tenants, access=access,
                           grids=grid_charts_of(access) if access else {},
                           tenant_names={t.id: t.name for t in tenants} if len(tenants) > 1 else {})


def _error(exc: InvalidInput) -> str:
    if exc.field in ("from", "to"):
        return _("Enter months as YYYY-MM, e.g. 2026-01; “To” must not be before “From”, and a period "
                 "spans at most ten years.")
    return _("The filter is not valid.")
