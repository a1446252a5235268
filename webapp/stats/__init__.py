"""Statistics under /stats/ (the analyst's room): counts and times of the reports of the tenants
the analyst holds the role in, one or all of them, by period, with small cells withheld; charts
drawn on the server as SVG beside their tables, and CSV and XLSX exports of the same cells."""

from __future__ import annotations

from flask import Blueprint

from webapp.stats import views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("stats", __name__, url_prefix="/stats", template_folder="templates")
    views.routes.register_on(blueprint)
    return blueprint
