"""Statistics under /stats/ (the analyst's room). Until the statistics land, a page that says so,
in the staff frame, so an analyst who signs in finds their place instead of an empty page."""

from __future__ import annotations

from flask import Blueprint

from webapp.stats import views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("stats", __name__, url_prefix="/stats", template_folder="templates")
    views.routes.register_on(blueprint)
    return blueprint
