"""The reporter portal under /r/<slug>/. Its routes are declared in views.py; build_blueprint
registers them (with the portal's own 429 pages)."""

from __future__ import annotations

from flask import Blueprint

from webapp.reporter import acknowledge, views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("reporter", __name__, url_prefix="/r/<slug>", template_folder="templates")
    views.routes.register_on(blueprint)
    acknowledge.routes.register_on(blueprint)
    return blueprint
