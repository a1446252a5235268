"""The reporter portal under /r/<slug>/. Its routes are declared in views.py; build_blueprint
registers them (with the portal's own 429 pages)."""

from __future__ import annotations

from flask import Blueprint

from webapp.reporter import acknowledge, branding, insider_details, views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("reporter", __name__, url_prefix="/r/<slug>", template_folder="templates")
    views.routes.register_on(blueprint)
    acknowledge.routes.register_on(blueprint)
    insider_details.routes.register_on(blueprint)
    branding.routes.register_on(blueprint)
    for name, function in branding.TEMPLATE_GLOBALS.items():
        blueprint.add_app_template_global(function, name)
    for name, function in branding.TEMPLATE_FILTERS.items():
        blueprint.add_app_template_filter(function, name)
    return blueprint
